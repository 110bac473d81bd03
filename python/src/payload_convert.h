// Payloads as Python objects. A Batch becomes a dict whose `images` array
// points into the batch's pooled pixel buffer (no copy): the array's base
// object holds a reference to the buffer, which goes back to its pool when
// the last array viewing it dies.
#pragma once

#include <any>

#include <pybind11/pybind11.h>

namespace sluice::python {

struct ConvertOptions {
  // true: `images` as float32 NCHW with the batch's pending scaling applied
  // (a copy); false: the uint8 NHWC pixels themselves.
  bool normalize = false;
};

// Called with the GIL held.
pybind11::object payload_to_python(std::any& value, const ConvertOptions& options);

}  // namespace sluice::python
