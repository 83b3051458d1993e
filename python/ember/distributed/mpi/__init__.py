"""The MPI engine (Open MPI through mpi4py) for CPU tensors."""
from .group import MpiGroup, mpi_available

__all__ = ["MpiGroup", "mpi_available"]
