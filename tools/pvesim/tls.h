// The simulator's self-signed server certificate, generated in memory at start.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

namespace pvesim {

struct ServerCert {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  std::string fingerprint;  // SHA-256 of the DER certificate, "AA:BB:..."
  std::string pem;          // the certificate (it is its own CA) for clients that verify
};

// A P-256 key and a certificate for CN=pvesim with SAN localhost, 127.0.0.1 and ::1, valid for
// ten years, marked CA:TRUE so that clients can trust it directly as a CA file.
ServerCert make_server_cert();

}  // namespace pvesim
