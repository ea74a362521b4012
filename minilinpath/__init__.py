"""minilinpath: the linear path experiments of Goodfellow, Vinyals & Saxe (ICLR 2015), from scratch.

Layers with hand-written backward passes, models as pure functions of one flat
parameter vector, NumPy on the CPU and CuPy on a GPU with the same code.
"""
__version__ = "0.1.0"

# First, before anything loads NumPy: OpenBLAS's idle threads should go to sleep soon (threads.py says why)
from . import threads as _threads  # noqa: E402,F401
