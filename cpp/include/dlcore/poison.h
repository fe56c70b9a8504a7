// Poisoned new tensors: a testing aid for unwritten outputs.
//
// Note [Poisoned new tensors]
// While set_poison_new_tensors(true) is in force, every tensor that `empty` makes is filled
// first (NaN for floating dtypes, a large value for integers, true for bool; the fill is
// ops/copy.cpp's, registered with set_poison_fill), so that a kernel leaving part of its output
// unwritten fails a comparison instead of passing on zeroed memory by luck.
#pragma once

#include "dlcore/tensor.h"

namespace dlcore {

using PoisonFill = void (*)(const Tensor& t);
void set_poison_fill(PoisonFill fill);
bool set_poison_new_tensors(bool on);  // returns the previous setting

}  // namespace dlcore
