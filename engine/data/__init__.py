"""Training data builders (each writes .npy/.npz arrays under data/, never pickles)."""
