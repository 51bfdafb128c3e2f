#include "tls.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace pvesim {

namespace {

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) throw std::runtime_error("cannot build certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace

ServerCert make_server_cert() {
  ServerCert sc;
  sc.key = EVP_EC_gen("P-256");
  if (!sc.key) throw std::runtime_error("cannot generate the server key");
  X509* x = X509_new();
  X509_set_version(x, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
  X509_set_pubkey(x, sc.key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("PVE Cluster Node"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("pvesim"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("pvesim"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign");
  add_ext(x, NID_ext_key_usage, "serverAuth");
  add_ext(x, NID_subject_key_identifier, "hash");
  add_ext(x, NID_authority_key_identifier, "keyid:always");
  add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
  if (!X509_sign(x, sc.key, EVP_sha256()))
    throw std::runtime_error("cannot sign the server certificate");
  sc.cert = x;

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(x, EVP_sha256(), md, &len);
  static const char* hex = "0123456789ABCDEF";
  for (unsigned i = 0; i < len; ++i) {
    if (i) sc.fingerprint += ':';
    sc.fingerprint += hex[md[i] >> 4];
    sc.fingerprint += hex[md[i] & 15];
  }
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  sc.pem.assign(data, static_cast<size_t>(n));
  BIO_free(bio);
  return sc;
}

}  // namespace pvesim
