"""Timbre: notes analysed as harmonics + noise, a latent autoencoder over them, and a text-conditioned
latent diffusion model that generates an instrument's sample set (see `sampleset.SampleSet`)."""
