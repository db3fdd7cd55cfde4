// Times brisknn's kernels without Python: median of repeated runs, in a small harness (Google
// Benchmark is not on these machines). Usage: bench_kernels [threads]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "brisknn/activation.h"
#include "brisknn/dense.h"
#include "brisknn/dropout.h"
#include "brisknn/loss.h"
#include "brisknn/optim.h"

using namespace brisknn;

namespace {

double median_seconds(const std::function<void()>& fn, int repeats = 15) {
  fn();  // warm up caches and the thread pool
  auto once = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double first = once();
  const int calls = std::max(1, static_cast<int>(0.02 / std::max(first, 1e-9)));
  std::vector<double> samples;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int c = 0; c < calls; ++c) fn();
    samples.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls);
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

std::vector<float> random_vector(size_t n, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(42);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

void report(const std::string& name, double seconds, double flops = 0) {
  if (flops > 0) {
    std::printf("%-40s %10.1f us %8.1f GFLOP/s\n", name.c_str(), seconds * 1e6,
                flops / seconds / 1e9);
  } else {
    std::printf("%-40s %10.1f us\n", name.c_str(), seconds * 1e6);
  }
}

void bench_matmul() {
  for (Index n : {256, 512, 1024, 2048}) {
    auto a = random_vector(n * n), b = random_vector(n * n), c = random_vector(n * n);
    const double t = median_seconds(
        [&] { matmul(c.data(), a.data(), b.data(), n, n, n, false, false, false); },
        n >= 2048 ? 5 : 15);
    report("matmul f32 n=" + std::to_string(n), t, 2.0 * n * n * n);
  }
}

// The two layers of the 784-128-10 MLP: the hidden layer, and the 10-unit output layer (whose
// products are narrow: c fits one register row).
void bench_dense() {
  const Index batch = 128;
  for (const auto [in, out, with_dx] : {std::tuple{784L, 128L, false}, {128L, 10L, true}}) {
    auto x = random_vector(batch * in), w = random_vector(in * out), b = random_vector(out);
    auto y = random_vector(batch * out), dw = random_vector(in * out), db = random_vector(out);
    auto dx = random_vector(batch * in);
    const std::string shape = "128x" + std::to_string(in) + "->" + std::to_string(out);
    report("dense_forward relu " + shape,
           median_seconds([&] {
             dense_forward(y.data(), x.data(), w.data(), b.data(), batch, in, out,
                           Activation::Relu, 0.f);
           }),
           2.0 * batch * in * out);
    report(std::string(with_dx ? "dense_backward (dx, dW, db) " : "dense_backward (dW, db) ") +
               shape,
           median_seconds([&] {
             dense_backward<float>(with_dx ? dx.data() : nullptr, dw.data(), db.data(), y.data(),
                                   x.data(), w.data(), batch, in, out);
           }),
           (with_dx ? 4.0 : 2.0) * batch * in * out);
  }
}

void bench_activations() {
  const Index n = 1 << 20;
  auto x = random_vector(n, -4.f, 4.f), y = random_vector(n), dy = random_vector(n);
  const std::pair<const char*, Activation> acts[] = {
      {"relu", Activation::Relu},       {"sigmoid", Activation::Sigmoid},
      {"tanh", Activation::Tanh},       {"elu", Activation::Elu},
      {"softplus", Activation::Softplus}, {"softmax(rows of 1024)", Activation::Softmax}};
  for (const auto& [name, act] : acts) {
    report(std::string("activation_forward ") + name + " 1M",
           median_seconds([&] { activation_forward(y.data(), x.data(), n / 1024, Index{1024}, act, 1.f); }));
    report(std::string("activation_backward ") + name + " 1M",
           median_seconds([&] { activation_backward(x.data(), dy.data(), y.data(), n / 1024, Index{1024}, act, 1.f); }));
  }
}

void bench_losses() {
  const Index batch = 8192, dim = 10;
  auto p = random_vector(batch * dim, 0.01f, 1.f), t = random_vector(batch * dim, 0.f, 1.f);
  auto per = random_vector(batch), g = random_vector(batch * dim);
  std::vector<int64_t> labels(batch);
  for (Index i = 0; i < batch; ++i) labels[i] = i % dim;
  const std::pair<const char*, Loss> losses[] = {
      {"mse", Loss::MeanSquaredError}, {"bce", Loss::BinaryCrossentropy},
      {"cce", Loss::CategoricalCrossentropy}, {"scce", Loss::SparseCategoricalCrossentropy}};
  for (const auto& [name, loss] : losses) {
    report(std::string("loss fwd+bwd ") + name + " 8192x10", median_seconds([&] {
             loss_forward(per.data(), t.data(), labels.data(), p.data(), batch, dim, loss, false);
             loss_backward(g.data(), t.data(), labels.data(), p.data(), batch, dim, loss, false,
                           1.f / batch);
           }));
  }
}

void bench_optimizers() {
  const Index n = 1 << 20;
  auto w = random_vector(n), m = random_vector(n, 0.f, 0.f), v = random_vector(n, 0.f, 0.f);
  auto g = random_vector(n);
  GradientOptions o;
  report("adam_update 1M", median_seconds([&] {
           adam_update(w.data(), g.data(), m.data(), v.data(), static_cast<float*>(nullptr), n,
                       o, 1e-3, 0.9, 0.999, 1e-7);
         }));
  report("sgd_update momentum 1M", median_seconds([&] {
           sgd_update(w.data(), g.data(), m.data(), n, o, 1e-2, 0.9, false);
         }));
}

void bench_dropout() {
  const Index n = 1 << 20;
  auto x = random_vector(n), y = random_vector(n);
  std::vector<uint8_t> mask(n);
  report("dropout_forward 1M", median_seconds([&] {
           dropout_forward(y.data(), mask.data(), x.data(), n, 0.5, 7);
         }));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) set_num_threads(std::atoi(argv[1]));
  std::printf("threads: %d\n", get_num_threads());
  bench_matmul();
  bench_dense();
  bench_activations();
  bench_losses();
  bench_optimizers();
  bench_dropout();
  return 0;
}
