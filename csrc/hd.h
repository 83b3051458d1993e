// EMBER_HD marks functions compiled for both the host and the device, so the
// same arithmetic can be unit-tested by g++ on a machine without a GPU and
// shared with the CPU backend. Plain C++ headers include this, never CUDA ones.
#pragma once
#if defined(__CUDACC__)
#define EMBER_HD __host__ __device__ __forceinline__
#else
#define EMBER_HD inline
#endif
