#include "crypto/openssl_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>

#include <algorithm>

#include "core/error.h"
#include "crypto/key_packet.h"

namespace pvesafe::crypto::detail {

namespace {

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

struct BldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
// Wipes every parameter's value before freeing (OpenSSL 3.0 has no OSSL_PARAM_clear_free).
struct ParamsDeleter {
  void operator()(OSSL_PARAM* params) const {
    for (OSSL_PARAM* p = params; p != nullptr && p->key != nullptr; ++p) {
      if (p->data != nullptr) OPENSSL_cleanse(p->data, p->data_size);
    }
    OSSL_PARAM_free(params);
  }
};

BnPtr bn(std::span<const uint8_t> v, bool secret) {
  BnPtr b(BN_bin2bn(v.data(), static_cast<int>(v.size()), nullptr));
  if (!b) throw Error(Errc::kInternal, "out of memory in OpenSSL");
  if (secret) BN_set_flags(b.get(), BN_FLG_CONSTTIME);
  return b;
}

PkeyPtr from_params(const char* type, int selection, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, params) != 1) {
    return nullptr;
  }
  return PkeyPtr(key);
}

}  // namespace

PkeyPtr rsa_public_key(std::span<const uint8_t> n, std::span<const uint8_t> e) {
  BnPtr bn_n = bn(n, false), bn_e = bn(e, false);
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    throw Error(Errc::kInternal, "out of memory in OpenSSL");
  }
  std::unique_ptr<OSSL_PARAM, ParamsDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyPtr key = params ? from_params("RSA", EVP_PKEY_PUBLIC_KEY, params.get()) : nullptr;
  if (!key) {
    throw Error(Errc::kIntegrity, "OpenPGP key is malformed: OpenSSL refuses its RSA public key",
                "export the key again");
  }
  return key;
}

PkeyPtr rsa_private_key(std::span<const uint8_t> n, std::span<const uint8_t> e,
                        std::span<const uint8_t> d, std::span<const uint8_t> p,
                        std::span<const uint8_t> q, std::span<const uint8_t> u) {
  BnPtr bn_n = bn(n, false), bn_e = bn(e, false);
  BnPtr bn_d = bn(d, true), bn_p = bn(p, true), bn_q = bn(q, true), bn_u = bn(u, true);
  std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> ctx(BN_CTX_secure_new(), BN_CTX_free);
  BnPtr prod(BN_new()), dp(BN_new()), dq(BN_new()), pm1(BN_new()), qm1(BN_new());
  if (!ctx || !prod || !dp || !dq || !pm1 || !qm1) throw Error(Errc::kInternal, "out of memory");
  for (BIGNUM* b : {dp.get(), dq.get(), pm1.get(), qm1.get()}) BN_set_flags(b, BN_FLG_CONSTTIME);
  if (BN_mul(prod.get(), bn_p.get(), bn_q.get(), ctx.get()) != 1 ||
      BN_cmp(prod.get(), bn_n.get()) != 0) {
    return nullptr;
  }
  // OpenSSL's iqmp is q^-1 mod p; OpenPGP's u is p^-1 mod q: swap the primes' roles.
  if (BN_sub(qm1.get(), bn_q.get(), BN_value_one()) != 1 ||
      BN_sub(pm1.get(), bn_p.get(), BN_value_one()) != 1 ||
      BN_mod(dp.get(), bn_d.get(), qm1.get(), ctx.get()) != 1 ||
      BN_mod(dq.get(), bn_d.get(), pm1.get(), ctx.get()) != 1) {
    throw Error(Errc::kInternal, "RSA key arithmetic failed in OpenSSL");
  }
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_D, bn_d.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, bn_q.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, bn_p.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1, dp.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2, dq.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bn_u.get()) != 1) {
    throw Error(Errc::kInternal, "out of memory in OpenSSL");
  }
  std::unique_ptr<OSSL_PARAM, ParamsDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) throw Error(Errc::kInternal, "out of memory in OpenSSL");
  return from_params("RSA", EVP_PKEY_KEYPAIR, params.get());
}

PkeyPtr x25519_public_key(std::span<const uint8_t> native) {
  if (native.size() != 32) return nullptr;
  return PkeyPtr(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, native.data(), 32));
}

PkeyPtr x25519_private_key(std::span<const uint8_t> native) {
  if (native.size() != 32) return nullptr;
  return PkeyPtr(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, native.data(), 32));
}

void x25519_public_of(EVP_PKEY* key, uint8_t out[32]) {
  size_t len = 32;
  if (EVP_PKEY_get_raw_public_key(key, out, &len) != 1 || len != 32) {
    throw Error(Errc::kInternal, "X25519 failed in OpenSSL");
  }
}

bool x25519_agree(EVP_PKEY* own_private, EVP_PKEY* peer_public, uint8_t out[32]) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own_private, nullptr));
  size_t len = 32;
  return ctx && EVP_PKEY_derive_init(ctx.get()) == 1 &&
         EVP_PKEY_derive_set_peer(ctx.get(), peer_public) == 1 &&
         EVP_PKEY_derive(ctx.get(), out, &len) == 1 && len == 32;
}

const char* ec_group_name(std::span<const uint8_t> oid) {
  auto is = [&](std::span<const uint8_t> want) {
    return oid.size() == want.size() && std::equal(oid.begin(), oid.end(), want.begin());
  };
  if (is(kOidNistP256)) return "P-256";
  if (is(kOidNistP384)) return "P-384";
  if (is(kOidNistP521)) return "P-521";
  return nullptr;
}

PkeyPtr ec_public_key(const char* group, std::span<const uint8_t> point) {
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    throw Error(Errc::kInternal, "out of memory in OpenSSL");
  }
  std::unique_ptr<OSSL_PARAM, ParamsDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  return params ? from_params("EC", EVP_PKEY_PUBLIC_KEY, params.get()) : nullptr;
}

}  // namespace pvesafe::crypto::detail
