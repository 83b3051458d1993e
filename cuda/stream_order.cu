// DLPack's stream ordering on the producer side. ember queues all its work
// on the legacy default stream; a consumer that reads an exported tensor on
// another stream must first wait for that work. The legacy and per-thread
// default streams already synchronize with it; any other stream (PyTorch's
// and CuPy's are usually non-blocking) gets an event to wait on.
#include "cuda/common.cuh"
#include "cuda/cuda_api.h"

namespace ember {

void cuda_order_stream_after_ember(int device, uintptr_t stream) {
  cuda::check_index(device);
  if (stream == 1 || stream == 2) return;  // legacy / per-thread default: ordered already
  EMBER_CHECK(stream != 0, ValueError, "__dlpack__: stream=0 is ambiguous and not allowed by the DLPack standard; "
              "pass 1 for the legacy default stream");
  cuda::DeviceGuard guard(device);
  cudaEvent_t done;
  EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  cudaError_t err = cudaEventRecord(done, cuda::stream());
  if (err == cudaSuccess) err = cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(stream), done, 0);
  cudaEventDestroy(done);  // released once the wait has been satisfied
  if (err != cudaSuccess) cuda::throw_cuda_error(err, "cudaStreamWaitEvent(consumer stream)", __FILE__, __LINE__);
}

}  // namespace ember
