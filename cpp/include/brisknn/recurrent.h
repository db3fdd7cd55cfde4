// Recurrent layers (SimpleRNN, LSTM, GRU) over whole sequences: one call runs every time step,
// forward or backward through time. Keras 3 layouts: x is batch-major (batch, steps, in); kernel
// (in, G*units), recurrent_kernel (units, G*units) with the gates side by side in Keras' order
// (LSTM i, f, c, o; GRU z, r, h; SimpleRNN one block).
#pragma once
#include <cstdint>

#include "brisknn/activation.h"
#include "brisknn/parallel.h"

namespace brisknn {

enum class RecurrentCell { SimpleRNN, LSTM, GRU };

// Parses "simple_rnn", "lstm" or "gru"; returns false for anything else.
bool parse_recurrent_cell(const char* name, RecurrentCell* out);

struct RecurrentShape {
  RecurrentCell cell;
  Index batch, steps, in, units;
  // Distinct dropout masks held fixed over all steps, each (batch, in) for the inputs and
  // (batch, units) for the previous state: 0 (none), 1 (one mask for all gates) or gates() (one
  // per gate, as Keras 3 draws them once recurrent_dropout is set).
  Index input_masks = 0, recurrent_masks = 0;

  Index gates() const {
    return cell == RecurrentCell::LSTM ? 4 : cell == RecurrentCell::GRU ? 3 : 1;
  }
};

// Elements of T the workspace of recurrent_forward (or recurrent_backward) needs.
Index recurrent_workspace_size(const RecurrentShape& s, bool backward);

// Runs the whole sequence. Outputs, kept for backward:
//   h (batch, steps, units)        every hidden state h_t
//   gates (batch, steps, G*units)  LSTM: i, f, c~, o after their activations; GRU: z, r, hh;
//                                  null for SimpleRNN (h is all it needs)
//   carry (batch, steps, units)    LSTM: the cell state c_t; GRU: h_{t-1} U_h + b_h (before the
//                                  reset gate); null for SimpleRNN
// bias: (G*units) for SimpleRNN/LSTM, (2, 3*units) for GRU (input row, recurrent row); may be
// null. input_mask (input_masks, batch, in) and recurrent_mask (recurrent_masks, batch, units)
// hold inverted-dropout factors (0 or 1/(1-rate)); null when there are none.
//   SimpleRNN: h = act(x K + b + (h_{t-1} m) U)
//   LSTM:      [i f c~ o] = [rec_act rec_act act rec_act](x K + b + (h_{t-1} m) U),
//              c = f c_{t-1} + i c~, h = o act(c)
//   GRU:       z, r = rec_act(x K_zr + b_zr + (h_{t-1} m) U_zr + b'_zr),
//              hh = act(x K_h + b_h + r ((h_{t-1} m) U_h + b'_h)), h = z h_{t-1} + (1 - z) hh
// step_mask (batch, steps), 0 or 1, may be null: where 0 the step is skipped, Keras' masking:
// h_t = h_{t-1} and (LSTM) c_t = c_{t-1}, so h holds the last unmasked state (the initial state
// before any).
// h0 (batch, units) and, for LSTM, c0 (batch, units) are the initial states h_{-1}, c_{-1}
// (Keras' initial_state); null means zeros, and then the first step skips its recurrent
// product exactly as it always has.
template <class T>
void recurrent_forward(const RecurrentShape& s, Activation act, Activation recurrent_act, T* h,
                       T* gates, T* carry, const T* x, const T* kernel,
                       const T* recurrent_kernel, const T* bias, const T* input_mask,
                       const T* recurrent_mask, const std::uint8_t* step_mask, T* workspace,
                       const T* h0 = nullptr, const T* c0 = nullptr);

// Backpropagation through time from dy, the gradient of every hidden state (batch, steps, units)
// when sequences, else of the last one only (batch, units). dx (batch, steps, in) is overwritten;
// dkernel, drecurrent_kernel and dbias (shaped as their weights) are added into. Any of them may
// be null to skip it. The other arguments are recurrent_forward's, with its outputs (the same
// step_mask: a masked step passes dL/dh_t, dL/dc_t on to the previous step and adds nothing).
// dh0 (batch, units) and, for LSTM, dc0 receive dL/dh_{-1}, dL/dc_{-1}, the gradient with respect
// to the initial states (overwritten; null to skip), whether h0/c0 were given or zero.
template <class T>
void recurrent_backward(const RecurrentShape& s, Activation act, Activation recurrent_act, T* dx,
                        T* dkernel, T* drecurrent_kernel, T* dbias, const T* dy, bool sequences,
                        const T* x, const T* kernel, const T* recurrent_kernel,
                        const T* input_mask, const T* recurrent_mask,
                        const std::uint8_t* step_mask, const T* h, const T* gates,
                        const T* carry, T* workspace, const T* h0 = nullptr,
                        const T* c0 = nullptr, T* dh0 = nullptr, T* dc0 = nullptr);

}  // namespace brisknn
