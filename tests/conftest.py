"""Session-wide settings that must come before any import of Triton."""

import os
import shutil

# Without a GPU, Triton kernels run in Triton's interpreter on CPU tensors (tests/test_triton.py);
# Triton reads this once, when it is first imported, which torch may do early.
if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("TRITON_INTERPRET", "1")
