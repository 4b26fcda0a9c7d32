"""What the tests make themselves: tiny corpora, checkpoints, trainers and a launched app."""
