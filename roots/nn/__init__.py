"""The network code: the root module's layers, the paper's model families, their counts, and the
convolution implementations (PyTorch's, reference loops, Triton kernels) that timing compares."""
