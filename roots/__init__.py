"""Deep Roots (Ioannou et al., CVPR 2017) reproduced: root modules, the paper's models, counts."""

__version__ = "0.1.0"
