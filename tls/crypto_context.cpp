// A provider of our own supplies the DRBG of the deterministic library context. Its generator
// draws from the stream of the Scope open on the calling thread: contexts never share a stream, so
// two worlds in one process do not influence each other, whatever order they run in.

#include "tls/crypto_context.hpp"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <climits>

#include "io/assert.hpp"

namespace relaysim::tls {
namespace {

constexpr const char* provider_name = "relaysim-random";
constexpr const char* algorithm_name = "RELAYSIM-SEEDED";

thread_local io::Random* current_stream = nullptr;

io::Random& stream_for_this_draw() {
  if (current_stream != nullptr) return *current_stream;
  thread_local io::Random unscoped = io::Random::stream(0, "openssl-unscoped");
  return unscoped;
}

struct Generator {
  int state;
};

void* generator_new(void*, void*, const OSSL_DISPATCH*) { return new Generator{EVP_RAND_STATE_UNINITIALISED}; }
void generator_free(void* generator) { delete static_cast<Generator*>(generator); }
int generator_instantiate(void* generator, unsigned int, int, const unsigned char*, std::size_t, const OSSL_PARAM[]) {
  static_cast<Generator*>(generator)->state = EVP_RAND_STATE_READY;
  return 1;
}
int generator_uninstantiate(void* generator) {
  static_cast<Generator*>(generator)->state = EVP_RAND_STATE_UNINITIALISED;
  return 1;
}
int generator_generate(void*, unsigned char* out, std::size_t length, unsigned int, int, const unsigned char*,
                       std::size_t) {
  io::Random& random = stream_for_this_draw();
  for (std::size_t i = 0; i < length; i += 8) {
    const std::uint64_t word = random.next();
    for (std::size_t k = 0; k < 8 && i + k < length; ++k) out[i + k] = static_cast<unsigned char>(word >> (8 * k));
  }
  return 1;
}
int generator_reseed(void*, int, const unsigned char*, std::size_t, const unsigned char*, std::size_t) { return 1; }
int generator_enable_locking(void*) { return 1; }
int generator_lock(void*) { return 1; }
void generator_unlock(void*) {}
// As a seed source for OpenSSL's own DRBGs, should one ask.
std::size_t generator_get_seed(void* generator, unsigned char** pout, int, std::size_t min_length, std::size_t, int,
                               const unsigned char*, std::size_t) {
  auto* buffer = static_cast<unsigned char*>(OPENSSL_secure_malloc(min_length));
  if (buffer == nullptr) return 0;
  generator_generate(generator, buffer, min_length, 0, 0, nullptr, 0);
  *pout = buffer;
  return min_length;
}
void generator_clear_seed(void*, unsigned char* buffer, std::size_t length) {
  OPENSSL_secure_clear_free(buffer, length);
}

int generator_get_ctx_params(void* generator, OSSL_PARAM params[]) {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE);
  if (p != nullptr && !OSSL_PARAM_set_int(p, static_cast<Generator*>(generator)->state)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH);
  if (p != nullptr && !OSSL_PARAM_set_uint(p, 256)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST);
  if (p != nullptr && !OSSL_PARAM_set_size_t(p, INT_MAX)) return 0;
  return 1;
}
const OSSL_PARAM* generator_gettable_ctx_params(void*, void*) {
  static const OSSL_PARAM known[] = {OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, nullptr),
                                     OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, nullptr),
                                     OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, nullptr), OSSL_PARAM_END};
  return known;
}

using Function = void (*)();
const OSSL_DISPATCH generator_functions[] = {
    {OSSL_FUNC_RAND_NEWCTX, reinterpret_cast<Function>(generator_new)},
    {OSSL_FUNC_RAND_FREECTX, reinterpret_cast<Function>(generator_free)},
    {OSSL_FUNC_RAND_INSTANTIATE, reinterpret_cast<Function>(generator_instantiate)},
    {OSSL_FUNC_RAND_UNINSTANTIATE, reinterpret_cast<Function>(generator_uninstantiate)},
    {OSSL_FUNC_RAND_GENERATE, reinterpret_cast<Function>(generator_generate)},
    {OSSL_FUNC_RAND_RESEED, reinterpret_cast<Function>(generator_reseed)},
    {OSSL_FUNC_RAND_ENABLE_LOCKING, reinterpret_cast<Function>(generator_enable_locking)},
    {OSSL_FUNC_RAND_LOCK, reinterpret_cast<Function>(generator_lock)},
    {OSSL_FUNC_RAND_UNLOCK, reinterpret_cast<Function>(generator_unlock)},
    {OSSL_FUNC_RAND_GET_SEED, reinterpret_cast<Function>(generator_get_seed)},
    {OSSL_FUNC_RAND_CLEAR_SEED, reinterpret_cast<Function>(generator_clear_seed)},
    {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, reinterpret_cast<Function>(generator_gettable_ctx_params)},
    {OSSL_FUNC_RAND_GET_CTX_PARAMS, reinterpret_cast<Function>(generator_get_ctx_params)},
    {0, nullptr}};

const OSSL_ALGORITHM random_algorithms[] = {{algorithm_name, "provider=relaysim-random", generator_functions, nullptr},
                                            {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM* provider_query(void*, int operation, int* no_cache) {
  *no_cache = 0;
  return operation == OSSL_OP_RAND ? random_algorithms : nullptr;
}

const OSSL_DISPATCH provider_functions[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, reinterpret_cast<Function>(provider_query)}, {0, nullptr}};

int provider_init(const OSSL_CORE_HANDLE*, const OSSL_DISPATCH*, const OSSL_DISPATCH** out, void** context) {
  *context = nullptr;
  *out = provider_functions;
  return 1;
}

// The process's one deterministic library context, made on first use and kept to the end: its
// seed source and DRBGs are all our generator.
OSSL_LIB_CTX* deterministic_library() {
  static OSSL_LIB_CTX* const library = [] {
    OSSL_LIB_CTX* made = OSSL_LIB_CTX_new();
    RELAYSIM_ASSERT(made != nullptr);
    RELAYSIM_ASSERT(OSSL_PROVIDER_add_builtin(made, provider_name, provider_init) == 1);
    RELAYSIM_ASSERT(OSSL_PROVIDER_load(made, provider_name) != nullptr);
    RELAYSIM_ASSERT(OSSL_PROVIDER_load(made, "default") != nullptr);
    RELAYSIM_ASSERT(RAND_set_seed_source_type(made, algorithm_name, nullptr) == 1);
    RELAYSIM_ASSERT(RAND_set_DRBG_type(made, algorithm_name, nullptr, nullptr, nullptr) == 1);
    return made;
  }();
  return library;
}

}  // namespace

CryptoContext::CryptoContext(std::uint64_t seed)
    : library_(deterministic_library()),
      random_(std::make_unique<io::Random>(io::Random::stream(seed, "openssl"))),
      deterministic_(true) {}

std::unique_ptr<CryptoContext> CryptoContext::system() { return std::unique_ptr<CryptoContext>(new CryptoContext()); }

CryptoContext::~CryptoContext() = default;

CryptoContext::Scope::Scope(io::Random* stream) : previous_(current_stream), active_(stream != nullptr) {
  if (active_) current_stream = stream;
}

CryptoContext::Scope::~Scope() {
  if (active_) current_stream = previous_;
}

}  // namespace relaysim::tls
