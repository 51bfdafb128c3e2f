// Authentication and permissions as the PVE API does them: tickets from POST /access/ticket sent
// back in the PVEAuthCookie cookie (plus the CSRFPreventionToken header on writes), or API tokens
// in "Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET". Each user or token has one role.
#pragma once

#include <string>

#include "state.h"

namespace httplib {
struct Request;
}

namespace pvesim {

struct Identity {
  std::string user;  // user@realm, or user@realm!tokenid for a token
  std::string role;  // Administrator, PVEAdmin, PVEVMAdmin, PVEAuditor, NoAccess
};

// POST /access/ticket: username + password (or a valid ticket as password, which renews it).
json login(Sim& sim, const Params& p);
// Checks the credentials of an API request; throws ApiError 401 when they are missing or wrong.
Identity authenticate(Sim& sim, const httplib::Request& req);
bool role_has(const std::string& role, const std::string& priv);
// 403 "Permission check failed (PATH, PRIV)" unless the identity holds PRIV.
void require(const Identity& who, const std::string& acl_path, const std::string& priv);
// Reads the tokens file (USER@REALM!TOKENID=SECRET ROLE per line), creating it with fresh secrets
// (mode 0600) when it does not exist.
void load_or_create_tokens(Sim& sim, const std::string& path);

}  // namespace pvesim
