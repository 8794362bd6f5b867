// A provider of our own supplies the DRBG of each deterministic library context. OpenSSL finds a
// provider's state only through its init function, which cannot carry a pointer; so each context
// registers its random stream under its library-context pointer before loading the provider, and
// the provider looks it up once, at init. The registry holds one entry per live context: contexts
// never share a stream, so two worlds in one process do not influence each other.

#include "tls/crypto_context.hpp"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <climits>
#include <map>
#include <mutex>

#include "io/assert.hpp"

namespace relaysim::tls {
namespace {

constexpr const char* provider_name = "relaysim-random";
constexpr const char* algorithm_name = "RELAYSIM-SEEDED";

std::mutex registry_mutex;
std::map<const void*, io::Random*>& registry() {
  static std::map<const void*, io::Random*> streams;
  return streams;
}

struct Generator {
  io::Random* random;
  int state;
};

void* generator_new(void* provider_context, void*, const OSSL_DISPATCH*) {
  return new Generator{static_cast<io::Random*>(provider_context), EVP_RAND_STATE_UNINITIALISED};
}
void generator_free(void* generator) { delete static_cast<Generator*>(generator); }
int generator_instantiate(void* generator, unsigned int, int, const unsigned char*, std::size_t, const OSSL_PARAM[]) {
  static_cast<Generator*>(generator)->state = EVP_RAND_STATE_READY;
  return 1;
}
int generator_uninstantiate(void* generator) {
  static_cast<Generator*>(generator)->state = EVP_RAND_STATE_UNINITIALISED;
  return 1;
}
int generator_generate(void* generator, unsigned char* out, std::size_t length, unsigned int, int,
                       const unsigned char*, std::size_t) {
  io::Random& random = *static_cast<Generator*>(generator)->random;
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
std::size_t generator_get_seed(void* generator, unsigned char** pout, int, std::size_t min_length, std::size_t,
                               int, const unsigned char*, std::size_t) {
  auto* buffer = static_cast<unsigned char*>(OPENSSL_secure_malloc(min_length));
  if (buffer == nullptr) return 0;
  generator_generate(generator, buffer, min_length, 0, 0, nullptr, 0);
  *pout = buffer;
  return min_length;
}
void generator_clear_seed(void*, unsigned char* buffer, std::size_t length) { OPENSSL_secure_clear_free(buffer, length); }

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

const OSSL_DISPATCH provider_functions[] = {{OSSL_FUNC_PROVIDER_QUERY_OPERATION, reinterpret_cast<Function>(provider_query)},
                                           {0, nullptr}};

int provider_init(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in, const OSSL_DISPATCH** out, void** context) {
  OSSL_FUNC_core_get_libctx_fn* get_library = nullptr;
  for (; in->function_id != 0; ++in) {
    if (in->function_id == OSSL_FUNC_CORE_GET_LIBCTX) get_library = OSSL_FUNC_core_get_libctx(in);
  }
  if (get_library == nullptr) return 0;
  const void* library = get_library(handle);
  std::lock_guard lock(registry_mutex);
  const auto found = registry().find(library);
  if (found == registry().end()) return 0;
  *context = found->second;
  *out = provider_functions;
  return 1;
}

}  // namespace

CryptoContext::CryptoContext(std::uint64_t seed)
    : random_(std::make_unique<io::Random>(io::Random::stream(seed, "openssl"))), deterministic_(true) {
  library_ = OSSL_LIB_CTX_new();
  RELAYSIM_ASSERT(library_ != nullptr);
  {
    std::lock_guard lock(registry_mutex);
    registry()[library_] = random_.get();
  }
  // The seed source and the DRBGs of this context are all our seeded generator.
  RELAYSIM_ASSERT(OSSL_PROVIDER_add_builtin(library_, provider_name, provider_init) == 1);
  random_provider_ = OSSL_PROVIDER_load(library_, provider_name);
  RELAYSIM_ASSERT(random_provider_ != nullptr);
  default_provider_ = OSSL_PROVIDER_load(library_, "default");
  RELAYSIM_ASSERT(default_provider_ != nullptr);
  RELAYSIM_ASSERT(RAND_set_seed_source_type(library_, algorithm_name, nullptr) == 1);
  RELAYSIM_ASSERT(RAND_set_DRBG_type(library_, algorithm_name, nullptr, nullptr, nullptr) == 1);
}

std::unique_ptr<CryptoContext> CryptoContext::system() { return std::unique_ptr<CryptoContext>(new CryptoContext()); }

CryptoContext::~CryptoContext() {
  if (library_ == nullptr) return;
  // Our handles first; the context's DRBGs keep their own references until the context goes.
  OSSL_PROVIDER_unload(default_provider_);
  OSSL_PROVIDER_unload(random_provider_);
  OSSL_LIB_CTX_free(library_);
  std::lock_guard lock(registry_mutex);
  registry().erase(library_);
}

}  // namespace relaysim::tls
