def nccl_available():
    return False
