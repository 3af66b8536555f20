"""What ganlab trains to measure or to serve other methods, rather than to generate: the
domain net (FID features, attributes, identity), the segmenter (GAN dissection), MGI's
correspondence net, and the f-divergence estimator (a critic alone)."""
