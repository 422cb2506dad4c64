// `msgbroker admin apikey create|list|revoke`: API keys for senders that cannot hold a client
// certificate (docs/adr/0012), in the data directory's database, every change in its audit log.
// The key is printed once by `create` and stored only as a SHA-256 hash; nothing here logs it.

#include <fmt/format.h>

#include <iostream>

#include "admin_audit.hpp"
#include "msgbroker/audit/audit_log.hpp"
#include "msgbroker/cli/commands.hpp"
#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/core/time_format.hpp"
#include "msgbroker/crypto/api_key.hpp"
#include "msgbroker/proxy/api_key_directory.hpp"
#include "msgbroker/storage/sqlite_database.hpp"

namespace msgbroker::cli {

namespace {

constexpr std::size_t kMaxLabelLength = 200;
constexpr std::size_t kMaxReasonLength = 500;
constexpr std::size_t kMaxAllowedNetworks = 32;

int Report(std::string_view command, const Error& error) {
  std::cerr << "msgbroker admin apikey " << command << ": " << error.message << "\n";
  return 1;
}

Status CheckText(std::string_view text, std::size_t max, std::string_view what) {
  if (text.size() > max) {
    return Fail(ErrorCode::kInvalidRequest,
                std::string(what) + " is longer than " + std::to_string(max) + " characters");
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return Fail(ErrorCode::kInvalidRequest, std::string(what) + " holds a control character");
    }
  }
  return Ok();
}

bool IsKeyId(std::string_view id) {
  if (id.size() != crypto::kApiKeyIdHexLength) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

struct Opened {
  DataDirLayout layout;
  std::shared_ptr<storage::SqliteDatabase> db;
};

Result<Opened> Open(const std::string& data_dir) {
  auto layout = OpenDataDir(data_dir);
  if (!layout) return tl::unexpected(std::move(layout.error()));
  auto db = storage::SqliteDatabase::Open({.path = layout->database()}, SystemClock::Instance());
  if (!db) return tl::unexpected(std::move(db.error()));
  return Opened{std::move(*layout), std::move(*db)};
}

struct CreateFlags {
  std::string data_dir = "msgbroker-data";
  std::string client_id;
  std::vector<std::string> allow_ip;
  int expires_in_days = 0;
  std::string label;
};

int RunCreate(const CreateFlags& f) {
  const auto& clock = SystemClock::Instance();
  auto id = ClientId::Parse(f.client_id);
  if (!id) return Report("create", Error{ErrorCode::kInvalidRequest, "--client-id is not valid"});
  if (auto ok = CheckText(f.label, kMaxLabelLength, "--label"); !ok) {
    return Report("create", ok.error());
  }
  if (f.allow_ip.size() > kMaxAllowedNetworks) {
    return Report("create",
                  Error{ErrorCode::kInvalidRequest,
                        "at most " + std::to_string(kMaxAllowedNetworks) + " --allow-ip networks"});
  }
  for (const auto& cidr : f.allow_ip) {
    if (auto network = proxy::ParseIpNetwork(cidr); !network) {
      return Report("create", network.error());
    }
  }
  auto opened = Open(f.data_dir);
  if (!opened) return Report("create", opened.error());
  auto client = opened->db->clients()->GetClient(*id);
  if (!client) return Report("create", client.error());
  if (!*client)
    return Report("create", Error{ErrorCode::kNotFound, "no client '" + id->str() + "'"});
  if ((*client)->status == storage::ClientStatus::kRevoked) {
    return Report("create", Error{ErrorCode::kInvalidRequest,
                                  "client '" + id->str() + "' is revoked; it gets no new keys"});
  }
  auto generated = crypto::GenerateApiKey();
  if (!generated) return Report("create", generated.error());
  const auto now = clock.Now();
  storage::ApiKey key;
  key.key_id = generated->key_id;
  key.client_id = *id;
  key.secret_hash = generated->secret_hash;
  key.label = f.label;
  key.allowed_cidrs = f.allow_ip;
  key.created_at = now;
  if (f.expires_in_days > 0) key.expires_at = now + std::chrono::days{f.expires_in_days};
  if (auto ok = opened->db->api_keys()->Create(key); !ok) return Report("create", ok.error());

  std::cout << "API key " << key.key_id << " created for client '" << id->str() << "'"
            << (key.expires_at ? ", valid until " + FormatTimestamp(*key.expires_at) : "")
            << (key.allowed_cidrs.empty() ? ""
                                          : ", only from " + storage::JoinCidrs(key.allowed_cidrs))
            << ".\nIt is shown this once and cannot be recovered; store it now:\n\n"
            << generated->key << "\n\n"
            << "Send it as: Authorization: Bearer <key> (the proxy needs proxy.api_keys.enabled)"
            << std::endl;
  if ((*client)->status == storage::ClientStatus::kSuspended) {
    std::cerr << "note: client '" << id->str()
              << "' is suspended; the key works once it is resumed\n";
  }
  nlohmann::json details = {{"client_id", id->str()},
                            {"label", key.label},
                            {"allowed_cidrs", key.allowed_cidrs},
                            {"expires_at", key.expires_at ? FormatTimestamp(*key.expires_at) : ""}};
  return Audited(
      "apikey create", opened->layout.audit_log(),
      {.action = "apikey.create", .target = "apikey:" + key.key_id, .details = std::move(details)});
}

struct ListFlags {
  std::string data_dir = "msgbroker-data";
  std::string client_id;
};

int RunList(const ListFlags& f) {
  std::optional<ClientId> client;
  if (!f.client_id.empty()) {
    client = ClientId::Parse(f.client_id);
    if (!client)
      return Report("list", Error{ErrorCode::kInvalidRequest, "--client-id is not valid"});
  }
  auto opened = Open(f.data_dir);
  if (!opened) return Report("list", opened.error());
  auto keys = opened->db->api_keys()->List(client);
  if (!keys) return Report("list", keys.error());
  const auto now = SystemClock::Instance().Now();
  std::cout << fmt::format("{:<16} {:<20} {:<8} {:<24} {:<24} {:<24} {}\n", "KEY ID", "CLIENT",
                           "STATUS", "CREATED", "EXPIRES", "ALLOWED FROM", "LABEL");
  for (const auto& k : *keys) {
    const char* status = k.revoked_at                             ? "revoked"
                         : (k.expires_at && *k.expires_at <= now) ? "expired"
                                                                  : "active";
    std::cout << fmt::format(
        "{:<16} {:<20} {:<8} {:<24} {:<24} {:<24} {}\n", k.key_id, k.client_id.str(), status,
        FormatTimestamp(k.created_at), k.expires_at ? FormatTimestamp(*k.expires_at) : "never",
        k.allowed_cidrs.empty() ? "anywhere" : storage::JoinCidrs(k.allowed_cidrs), k.label);
  }
  return 0;
}

struct RevokeFlags {
  std::string data_dir = "msgbroker-data";
  std::string key_id;
  std::string reason;
};

int RunRevoke(const RevokeFlags& f) {
  if (!IsKeyId(f.key_id)) {
    return Report("revoke",
                  Error{ErrorCode::kInvalidRequest,
                        "--key-id must be the 16 hex digits after mbk_ (see apikey list)"});
  }
  if (auto ok = CheckText(f.reason, kMaxReasonLength, "--reason"); !ok) {
    return Report("revoke", ok.error());
  }
  auto opened = Open(f.data_dir);
  if (!opened) return Report("revoke", opened.error());
  auto keys = opened->db->api_keys();
  auto existing = keys->Get(f.key_id);
  if (!existing) return Report("revoke", existing.error());
  if (!*existing) return Report("revoke", Error{ErrorCode::kNotFound, "no API key " + f.key_id});
  if (auto ok = keys->Revoke(f.key_id, SystemClock::Instance().Now(), f.reason); !ok) {
    return Report("revoke", ok.error());
  }
  std::cout << "API key " << f.key_id << " of client '" << (*existing)->client_id.str()
            << "' is revoked; running proxies refuse it within their registry refresh interval"
            << std::endl;
  nlohmann::json details = {{"client_id", (*existing)->client_id.str()}};
  if (!f.reason.empty()) details["reason"] = f.reason;
  return Audited(
      "apikey revoke", opened->layout.audit_log(),
      {.action = "apikey.revoke", .target = "apikey:" + f.key_id, .details = std::move(details)});
}

}  // namespace

void RegisterApiKeyCommands(CLI::App& app, std::function<int()>& run) {
  auto* apikey = app.get_subcommand("admin")->add_subcommand(
      "apikey", "API keys for senders that cannot hold a client certificate");
  apikey->require_subcommand(1);

  auto cf = std::make_shared<CreateFlags>();
  auto* create = apikey->add_subcommand("create", "Create a key for a client; printed once");
  create->add_option("--data-dir", cf->data_dir, "Data directory")->capture_default_str();
  create->add_option("--client-id", cf->client_id, "Client id")->required();
  create->add_option("--allow-ip", cf->allow_ip,
                     "Network the key may be used from, e.g. 192.0.2.0/24 (repeatable; default: "
                     "anywhere)");
  create->add_option("--expires-in-days", cf->expires_in_days, "Validity in days (default: none)")
      ->check(CLI::Range(1, 3650));
  create->add_option("--label", cf->label, "A note for operators (shown by list)");
  create->callback([cf, &run] { run = [cf] { return RunCreate(*cf); }; });

  auto lf = std::make_shared<ListFlags>();
  auto* list = apikey->add_subcommand("list", "List keys (never the keys themselves)");
  list->add_option("--data-dir", lf->data_dir, "Data directory")->capture_default_str();
  list->add_option("--client-id", lf->client_id, "Only this client's keys");
  list->callback([lf, &run] { run = [lf] { return RunList(*lf); }; });

  auto rf = std::make_shared<RevokeFlags>();
  auto* revoke = apikey->add_subcommand("revoke", "Revoke a key for good");
  revoke->add_option("--data-dir", rf->data_dir, "Data directory")->capture_default_str();
  revoke->add_option("--key-id", rf->key_id, "Key id (16 hex digits)")->required();
  revoke->add_option("--reason", rf->reason, "Why (kept in the audit log)");
  revoke->callback([rf, &run] { run = [rf] { return RunRevoke(*rf); }; });
}

}  // namespace msgbroker::cli
