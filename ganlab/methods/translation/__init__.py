"""Image-to-image translation: between two domains (``two_domain``, with ``image_pool``:
CycleGAN, DistanceGAN, GcGAN, UNIT, MUNIT) and to target attributes
(``attribute_translation``: StarGAN, AttGAN, INIT)."""
