"""`python -m demo`: train a small audio classifier with audiodecode feeding it.

A compact Flax CNN learns eight kinds of synthetic sound from MFCCs that
`audiodecode.jax.loader` computes on the device from MP3, FLAC and Ogg
files, with augmentation on; the progress bar shows loss, accuracy,
samples/s and the share of time the training loop waited for data.
`--data DIR` trains on your own folder instead (one sub-folder per class).
"""
