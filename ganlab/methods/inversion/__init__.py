"""Methods built on inverting a frozen StyleGAN2: encoders into it (``encoder_inversion``:
UDA-Inversion, and the pSp-style base encoder it trains) and Multiple GAN Inversion."""
