"""The operations the CLI and the app call, one module per capability: melody, timbre, translate, vocode."""
