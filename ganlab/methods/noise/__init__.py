"""Methods that generate from noise: a generator against a critic (``two_player``:
GAN, WGAN, f-GAN, InfoGAN, cGAN, IcGAN, BiGAN, IB-GAN) and StyleGAN2, on the noise-sampling
base (``sampling``: latents, samples, the generation evaluation)."""
