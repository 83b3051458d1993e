"""One rank misbehaves (how: raise, kill, skip, exit, mismatch); the job
must end non-zero within the deadline with that rank named."""
import os
import signal
import sys

import ember as torch
import ember.distributed as dist

how = sys.argv[1]
dist.init_process_group(backend="gloo")
rank = dist.get_rank()
dist.barrier()
if rank == 1:
    if how == "raise":
        raise ValueError("rank one gives up")
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "exit":
        sys.exit(3)
    if how == "skip":  # leaves without the all_reduce the others wait in
        sys.exit(0)
    if how == "hang":  # alive, but never calls the collective
        import time
        time.sleep(600)
    if how == "mismatch":
        dist.all_reduce(torch.ones(5))
        sys.exit(0)
dist.all_reduce(torch.ones(4, dtype=torch.float64))
print(f"rank {rank} finished", flush=True)
