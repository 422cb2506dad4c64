#include "msgbroker/main_server/main_server_service.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "certificate_admin.hpp"
#include "client_admin.hpp"
#include "msgbroker/api/contract.hpp"
#include "msgbroker/api/delivery.hpp"
#include "msgbroker/api/queue_envelope.hpp"
#include "msgbroker/api/submit_message.hpp"
#include "msgbroker/core/periodic_task.hpp"
#include "msgbroker/core/time_format.hpp"
#include "msgbroker/net/http_types.hpp"
#include "msgbroker/pki/certificate_info.hpp"

namespace msgbroker::main_server {

namespace http = net::http;

struct MainServerService::Impl {
  Impl(MainServerOptions o, std::shared_ptr<storage::MessageStore> s, crypto::KeyRing k,
       crypto::SenderHasher h, std::unique_ptr<crypto::EnvelopeOpener> op, const Clock& c,
       prometheus::Registry& registry)
      : options(o),
        store(std::move(s)),
        key_ring(std::move(k)),
        hasher(std::move(h)),
        opener(std::move(op)),
        clock(c),
        pool(o.blocking_threads),
        stored(prometheus::BuildCounter()
                   .Name("main_server_messages_stored_total")
                   .Help("Messages written to the database, by final status")
                   .Register(registry)),
        deliveries(prometheus::BuildCounter()
                       .Name("main_server_delivery_items_total")
                       .Help("Delivery items received from workers, by outcome")
                       .Register(registry)),
        batch_seconds(prometheus::BuildHistogram()
                          .Name("main_server_delivery_batch_duration_seconds")
                          .Help("Decrypt, re-encrypt and commit one delivery batch")
                          .Register(registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5, 1.0, 2.5})) {}

  MainServerOptions options;
  std::shared_ptr<storage::MessageStore> store;
  crypto::KeyRing key_ring;
  crypto::SenderHasher hasher;
  std::unique_ptr<crypto::EnvelopeOpener> opener;
  const Clock& clock;
  boost::asio::thread_pool pool;
  std::atomic<std::size_t> pending{0};
  prometheus::Family<prometheus::Counter>& stored;
  prometheus::Family<prometheus::Counter>& deliveries;
  prometheus::Histogram& batch_seconds;

  // The last database ping, for /health (never pinged on an I/O thread).
  std::mutex database_mu;
  Status database_status = Ok();
  bool database_probed = false;
  PeriodicTask database_probe{options.database_probe_interval, [this] { ProbeDatabase(); }};

  void ProbeDatabase() {
    Status status = store->Ping();
    bool changed = false;
    {
      std::lock_guard lock(database_mu);
      changed = !database_probed || static_cast<bool>(database_status) != status.has_value();
      database_probed = true;
      database_status = status;
    }
    if (!changed) return;
    if (status) {
      spdlog::info("event=database_available");
    } else {
      spdlog::warn("event=database_unavailable error=\"{}\"", status.error().message);
    }
    if (options.on_database_availability) options.on_database_availability(status.has_value());
  }

  // Revoked service certificates (fingerprints), refreshed by `certificate_refresh`; never read
  // from the database on an I/O thread.
  std::mutex revoked_mu;
  std::shared_ptr<const std::set<std::string>> revoked_services =
      std::make_shared<const std::set<std::string>>();
  PeriodicTask certificate_refresh{options.certificate_refresh_interval,
                                   [this] { RefreshCertificates(); }};

  void RefreshCertificates() {
    if (!options.certificates) return;
    if (auto due = options.certificates->RevokeDue(clock.Now()); !due) {
      spdlog::warn("event=renewal_overlaps_failed error=\"{}\"", due.error().message);
    } else if (*due > 0) {
      spdlog::info("event=renewal_overlaps_ended revoked={}", *due);
    }
    auto revoked = options.certificates->ListRevoked();
    if (!revoked) {
      spdlog::warn("event=revoked_certificates_refresh_failed error=\"{}\"",
                   revoked.error().message);
      return;
    }
    auto next = std::make_shared<std::set<std::string>>();
    for (const auto& r : *revoked) {
      if (r.kind == storage::CertificateKind::kService) next->insert(r.fingerprint_sha256);
    }
    {
      std::lock_guard lock(revoked_mu);
      if (*next != *revoked_services) {
        spdlog::info("event=revoked_service_certificates count={}", next->size());
      }
      revoked_services = std::move(next);
    }
    RefreshCrl(*revoked);
  }

  // The published CRL (PEM), remade only when the revoked set changed or half its validity passed.
  std::shared_ptr<const std::string> crl_pem;  // under revoked_mu
  std::string crl_source;                      // what the CRL was made from (refresh thread only)
  SystemTime crl_this_update{};

  void RefreshCrl(const std::vector<storage::CertificateRecord>& revoked) {
    if (!options.ca) return;
    pki::CrlRequest request;
    std::string source;
    for (const auto& r : revoked) {
      const auto at = r.revoked_at.value_or(r.created_at);
      request.revoked.push_back({r.serial_hex, at,
                                 pki::ParseRevocationReason(r.revocation_reason)
                                     .value_or(pki::RevocationReason::kUnspecified)});
      source +=
          r.serial_hex + ' ' + std::to_string(ToUnixMillis(at)) + ' ' + r.revocation_reason + '\n';
    }
    const auto now = clock.Now();
    {
      std::lock_guard lock(revoked_mu);
      if (crl_pem && source == crl_source && now < crl_this_update + options.crl_validity / 2) {
        return;
      }
    }
    request.this_update = now;
    request.validity = options.crl_validity;
    // Milliseconds since the epoch, as `admin crl` numbers them (ADR 0009).
    request.crl_number = static_cast<std::uint64_t>(ToUnixMillis(now));
    auto crl = options.ca->MakeCrl(request);
    if (!crl) {
      spdlog::error("event=crl_failed error=\"{}\"", crl.error().message);
      return;
    }
    spdlog::info("event=crl_published crl_number={} revoked={}", request.crl_number,
                 request.revoked.size());
    std::lock_guard lock(revoked_mu);
    crl_pem = std::make_shared<const std::string>(std::move(crl->pem));
    crl_source = std::move(source);
    crl_this_update = now;
  }

  net::HttpResponse GetCrl(const net::RequestContext& context) {
    if (!context.peer) {
      return net::MakeErrorResponse(Error{ErrorCode::kClientCertificateRequired,
                                          "a client or service certificate is required"},
                                    context.request_id);
    }
    std::shared_ptr<const std::string> pem;
    {
      std::lock_guard lock(revoked_mu);
      if (revoked_services->count(context.peer->fingerprint_sha256) > 0) {
        return net::MakeErrorResponse(
            Error{ErrorCode::kClientRevoked, "this service certificate has been revoked"},
            context.request_id);
      }
      pem = crl_pem;
    }
    if (!pem) {
      auto response = net::MakeErrorResponse(
          Error{ErrorCode::kServiceUnavailable,
                options.ca ? "the CRL has not been made yet; retry later"
                           : "this main server has no CA key "
                             "(main_server.secrets.ca_key_file) and publishes no CRL"},
          context.request_id);
      if (options.ca) response.set(http::field::retry_after, "2");
      return response;
    }
    net::HttpResponse response{http::status::ok, 11};
    response.set(http::field::content_type, "application/x-pem-file");
    response.set(http::field::cache_control, "no-cache");
    response.body() = *pem;
    response.prepare_payload();
    return response;
  }

  // A verified service certificate that is not revoked and has `role`.
  Status Authorize(const net::RequestContext& context, pki::ServiceRole role);

  // Runs `job` on the blocking pool, or answers 503 when the pool is saturated.
  template <typename Job>
  void Offload(const std::string& request_id, net::Responder& respond, Job job) {
    if (pending.fetch_add(1) >= options.max_pending_jobs) {
      pending.fetch_sub(1);
      auto response = net::MakeErrorResponse(
          Error{ErrorCode::kServiceUnavailable, "the main server is busy; retry later"},
          request_id);
      response.set(http::field::retry_after, "1");
      respond(std::move(response));
      return;
    }
    boost::asio::post(pool, [this, job = std::move(job), respond = std::move(respond)]() mutable {
      net::HttpResponse response;
      try {
        response = job();
      } catch (const std::exception& e) {
        spdlog::error("event=main_server_job_failed error=\"{}\"", e.what());
        response = net::MakeErrorResponse(Error{ErrorCode::kInternal, "internal error"}, "");
      }
      pending.fetch_sub(1);
      respond(std::move(response));
    });
  }

  net::HttpResponse Deliver(const std::string& body, const std::string& request_id);
  Result<storage::StoredMessage> Prepare(const api::DeliveryItem& item, SystemTime now);
  nlohmann::json View(const storage::StoredMessage& m);
  net::HttpResponse GetMessage(const std::string& id_text, const std::string& request_id);
  net::HttpResponse ListMessages(const std::string& target, const std::string& request_id);
};

namespace {

Status RequireRole(const net::RequestContext& context, pki::ServiceRole role) {
  if (!context.peer) {
    return Fail(ErrorCode::kClientCertificateRequired, "a service certificate is required");
  }
  if (context.peer->role != role) {
    return Fail(ErrorCode::kForbidden,
                "this endpoint requires the '" + std::string(pki::RoleName(role)) + "' role");
  }
  return Ok();
}

std::string PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size()) {
      int value = 0;
      auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
      if (ec == std::errc{} && p == in.data() + i + 3) {
        out.push_back(static_cast<char>(value));
        i += 2;
      } else {
        out.push_back(in[i]);
      }
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view target) {
  std::map<std::string, std::string> out;
  const auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (!pair.empty()) {
      out[PercentDecode(pair.substr(0, eq))] =
          eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

Result<std::size_t> ParsePositive(const std::string& text, const char* field, std::size_t max) {
  std::size_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || p != text.data() + text.size() || value < 1 || value > max) {
    return Fail(ErrorCode::kInvalidQuery,
                std::string(field) + " must be an integer from 1 to " + std::to_string(max), field);
  }
  return value;
}

}  // namespace

Status MainServerService::Impl::Authorize(const net::RequestContext& context,
                                          pki::ServiceRole role) {
  if (context.peer) {
    std::lock_guard lock(revoked_mu);
    if (revoked_services->count(context.peer->fingerprint_sha256) > 0) {
      return Fail(ErrorCode::kClientRevoked, "this service certificate has been revoked");
    }
  }
  return RequireRole(context, role);
}

Result<storage::StoredMessage> MainServerService::Impl::Prepare(const api::DeliveryItem& item,
                                                                SystemTime now) {
  auto payload = api::DecodeQueuePayload(item.payload);
  if (!payload) return tl::unexpected(payload.error());
  auto plain = opener->Open(payload->sealed_content,
                            api::EnvelopeAssociatedData(item.message_id, payload->client_id));
  if (!plain) return Fail(ErrorCode::kDataCorrupted, "message content could not be opened");
  auto content = api::DecodeContent(*plain);
  if (!content) return tl::unexpected(content.error());

  storage::StoredMessage row;
  row.id = item.message_id;
  row.client_id = payload->client_id;
  row.sender_hmac = hasher.Hash(content->sender_number);
  row.sender_masked = crypto::MaskSenderNumber(content->sender_number);
  nlohmann::json stored_content = {{"message_body", content->message_body},
                                   {"metadata", content->metadata}};
  auto sealed = key_ring.Encrypt(stored_content.dump(), item.message_id.str());
  if (!sealed) return tl::unexpected(sealed.error());
  row.key_id = std::move(sealed->key_id);
  row.nonce = std::move(sealed->nonce);
  row.content = std::move(sealed->ciphertext);
  row.attempts = item.attempts;
  row.queued_at = payload->queued_at;
  row.stored_at = now;
  if (item.failure) {
    row.status = storage::MessageStatus::kFailed;
    row.last_error = *item.failure;
    row.failed_at = now;
  } else {
    row.status = storage::MessageStatus::kDelivered;
    row.delivered_at = now;
  }
  return row;
}

net::HttpResponse MainServerService::Impl::Deliver(const std::string& body,
                                                   const std::string& request_id) {
  const auto started = std::chrono::steady_clock::now();
  auto items = api::DecodeDeliveryRequest(body);
  if (!items) return net::MakeErrorResponse(items.error(), request_id);

  const auto now = clock.Now();
  std::vector<api::DeliveryResult> results(items->size());
  std::vector<storage::StoredMessage> rows;
  std::vector<std::size_t> row_index;  // rows[k] answers results[row_index[k]]
  rows.reserve(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    const auto& item = (*items)[i];
    results[i].message_id = item.message_id;
    auto row = Prepare(item, now);
    if (!row) {
      results[i].outcome = api::DeliveryOutcome::kRejected;
      results[i].error = row.error();
      spdlog::warn("event=delivery_rejected request_id={} message_id={} code={} error=\"{}\"",
                   request_id, item.message_id.str(), ErrorCodeName(row.error().code),
                   row.error().message);
      continue;
    }
    rows.push_back(std::move(*row));
    row_index.push_back(i);
  }
  auto inserted = store->InsertBatch(rows);
  if (!inserted) {
    spdlog::error("event=delivery_store_failed request_id={} error=\"{}\"", request_id,
                  inserted.error().message);
    auto response = net::MakeErrorResponse(
        Error{ErrorCode::kDatabaseUnavailable, "the database could not store the batch"},
        request_id);
    response.set(http::field::retry_after, "1");
    return response;
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    auto& result = results[row_index[k]];
    result.outcome =
        (*inserted)[k] ? api::DeliveryOutcome::kStored : api::DeliveryOutcome::kDuplicate;
    if ((*inserted)[k]) {
      stored.Add({{"status", std::string(storage::StatusName(rows[k].status))}}).Increment();
    }
  }
  for (const auto& r : results) {
    const char* outcome = r.outcome == api::DeliveryOutcome::kStored      ? "stored"
                          : r.outcome == api::DeliveryOutcome::kDuplicate ? "duplicate"
                                                                          : "rejected";
    deliveries.Add({{"outcome", outcome}}).Increment();
  }
  batch_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  auto response = net::MakeJsonResponse(http::status::ok, nlohmann::json::object());
  response.body() = api::EncodeDeliveryResponse(results);
  response.prepare_payload();
  return response;
}

nlohmann::json MainServerService::Impl::View(const storage::StoredMessage& m) {
  nlohmann::json view = {{"message_id", m.id.str()},
                         {"client_id", m.client_id.str()},
                         {"status", storage::StatusName(m.status)},
                         {"sender_number_masked", m.sender_masked},
                         {"attempts", m.attempts},
                         {"queued_at", FormatTimestamp(m.queued_at)},
                         {"delivered_at", nullptr},
                         {"failed_at", nullptr},
                         {"last_error", m.last_error.empty() ? nlohmann::json(nullptr)
                                                             : nlohmann::json(m.last_error)}};
  if (m.delivered_at) view["delivered_at"] = FormatTimestamp(*m.delivered_at);
  if (m.failed_at) view["failed_at"] = FormatTimestamp(*m.failed_at);
  auto plain = key_ring.Decrypt({m.key_id, m.nonce, m.content}, m.id.str());
  if (!plain) {
    spdlog::error("event=decrypt_failed message_id={} key_id={} error=\"{}\"", m.id.str(), m.key_id,
                  plain.error().message);
    view["message_body"] = nullptr;
    view["metadata"] = nullptr;
    view["content_error"] = std::string(ErrorCodeName(plain.error().code));
    return view;
  }
  auto content = nlohmann::json::parse(*plain, nullptr, false);
  view["message_body"] = content.value("message_body", "");
  view["metadata"] = content.contains("metadata") ? content["metadata"] : nlohmann::json(nullptr);
  return view;
}

net::HttpResponse MainServerService::Impl::GetMessage(const std::string& id_text,
                                                      const std::string& request_id) {
  auto id = MessageId::Parse(id_text);
  if (!id) {
    return net::MakeErrorResponse(Error{ErrorCode::kNotFound, "no such message"}, request_id);
  }
  auto found = store->Get(*id);
  if (!found) return net::MakeErrorResponse(found.error(), request_id);
  if (!*found) {
    return net::MakeErrorResponse(Error{ErrorCode::kNotFound, "no such message"}, request_id);
  }
  return net::MakeJsonResponse(http::status::ok, View(**found));
}

net::HttpResponse MainServerService::Impl::ListMessages(const std::string& target,
                                                        const std::string& request_id) {
  const auto params = ParseQuery(target);
  storage::MessageQuery query;
  auto bad = [&](const std::string& field, const std::string& message) {
    return net::MakeErrorResponse(Error{ErrorCode::kInvalidQuery, message, field}, request_id);
  };
  for (const auto& [key, value] : params) {
    if (key == "status") {
      query.status = storage::ParseStatus(value);
      if (!query.status) return bad(key, "status must be queued, delivered or failed");
    } else if (key == "client_id") {
      query.client_id = ClientId::Parse(value);
      if (!query.client_id) return bad(key, "client_id is not a valid client id");
    } else if (key == "from" || key == "to") {
      auto t = ParseTimestamp(value);
      if (!t) return bad(key, key + " must be an RFC 3339 timestamp or a date");
      (key == "from" ? query.from : query.to) = *t;
    } else if (key == "sender_number") {
      if (!api::ValidateSenderNumber(value)) return bad(key, "sender_number must be E.164");
      query.sender_hmac = hasher.Hash(value);
    } else if (key == "page") {
      auto v = ParsePositive(value, "page", 1'000'000);
      if (!v) return net::MakeErrorResponse(v.error(), request_id);
      query.page = *v;
    } else if (key == "page_size") {
      auto v = ParsePositive(value, "page_size", 500);
      if (!v) return net::MakeErrorResponse(v.error(), request_id);
      query.page_size = *v;
    } else {
      return bad(key, "unknown query parameter '" + key + "'");
    }
  }
  auto page = store->List(query);
  if (!page) return net::MakeErrorResponse(page.error(), request_id);
  nlohmann::json items = nlohmann::json::array();
  for (const auto& m : page->items) items.push_back(View(m));
  const auto pages = (page->total + page->page_size - 1) / page->page_size;
  return net::MakeJsonResponse(http::status::ok, nlohmann::json{{"items", std::move(items)},
                                                                {"total", page->total},
                                                                {"page", page->page},
                                                                {"page_size", page->page_size},
                                                                {"pages", pages}});
}

MainServerService::MainServerService(MainServerOptions options,
                                     std::shared_ptr<storage::MessageStore> store,
                                     crypto::KeyRing key_ring, crypto::SenderHasher sender_hasher,
                                     std::unique_ptr<crypto::EnvelopeOpener> opener,
                                     const Clock& clock, prometheus::Registry& metrics)
    : impl_(std::make_shared<Impl>(options, std::move(store), std::move(key_ring),
                                   std::move(sender_hasher), std::move(opener), clock, metrics)) {
  impl_->ProbeDatabase();
  impl_->database_probe.Start();
  impl_->RefreshCertificates();
  impl_->certificate_refresh.Start();
}

MainServerService::~MainServerService() { Stop(); }

void MainServerService::Stop() {
  impl_->database_probe.Stop();
  impl_->certificate_refresh.Stop();
  impl_->pool.join();
}

void MainServerService::RegisterRoutes(net::Router& router) {
  auto impl = impl_;
  // The admin certificate API (certificate_admin.hpp): admin certificate, audited, on the pool.
  auto admin_call = [impl](const net::RequestContext& context,
                           net::Responder& respond) -> std::optional<AdminCall> {
    if (auto ok = impl->Authorize(context, pki::ServiceRole::kAdmin); !ok) {
      respond(net::MakeErrorResponse(ok.error(), context.request_id));
      return std::nullopt;
    }
    if (!impl->options.certificates || impl->options.audit_log.empty()) {
      respond(net::MakeErrorResponse(
          Error{ErrorCode::kServiceUnavailable,
                "the admin certificate API needs an audit log (main_server.audit_log_file)"},
          context.request_id));
      return std::nullopt;
    }
    return AdminCall{context.request_id, "admin-certificate:" + context.peer->fingerprint_sha256,
                     context.remote_address};
  };
  router.Add(http::verb::get, "/api/v1/admin/certificates",
             [impl, admin_call](net::HttpRequest&& request, const net::RequestContext& context,
                                net::Responder respond) {
               auto call = admin_call(context, respond);
               if (!call) return;
               impl->Offload(context.request_id, respond,
                             [impl, params = ParseQuery(request.target()), call = *call] {
                               return ListCertificates(*impl->options.certificates,
                                                       impl->options.audit_log, impl->clock, params,
                                                       call);
                             });
             });
  router.Add(
      http::verb::post, "/api/v1/admin/certificates/{fingerprint}/revoke",
      [impl, admin_call](net::HttpRequest&& request, const net::RequestContext& context,
                         net::Responder respond) {
        auto call = admin_call(context, respond);
        if (!call) return;
        const auto it = context.path_params.find("fingerprint");
        impl->Offload(
            context.request_id, respond,
            [impl, fingerprint = it->second, body = std::move(request.body()), call = *call] {
              return RevokeCertificate(*impl->options.certificates, impl->options.audit_log,
                                       impl->clock, fingerprint, body, call);
            });
      });
  // The admin client API (client_admin.hpp): the same checks, and a client registry.
  auto client_admin = [impl, admin_call](const net::RequestContext& context,
                                         net::Responder& respond) -> std::optional<AdminCall> {
    auto call = admin_call(context, respond);
    if (call && !impl->options.clients) {
      respond(net::MakeErrorResponse(
          Error{ErrorCode::kServiceUnavailable, "this main server has no client registry"},
          context.request_id));
      return std::nullopt;
    }
    return call;
  };
  auto admin = [impl] {
    return ClientAdmin{*impl->options.clients, *impl->options.certificates, impl->options.ca.get(),
                       impl->options.audit_log, impl->clock};
  };
  // The two issuing routes: a client with its first certificate, a service certificate.
  using Issue = net::HttpResponse (*)(const ClientAdmin&, const std::string&, const AdminCall&);
  for (const auto& [path, issue] :
       {std::pair<std::string, Issue>{"/api/v1/admin/clients", &IssueClient},
        std::pair<std::string, Issue>{"/api/v1/admin/service-certificates",
                                      &IssueServiceCertificate}}) {
    router.Add(http::verb::post, path,
               [impl, client_admin, admin, issue = issue](net::HttpRequest&& request,
                                                          const net::RequestContext& context,
                                                          net::Responder respond) {
                 auto call = client_admin(context, respond);
                 if (!call) return;
                 impl->Offload(context.request_id, respond,
                               [admin, issue, body = std::move(request.body()), call = *call] {
                                 return issue(admin(), body, call);
                               });
               });
  }
  router.Add(http::verb::get, "/api/v1/admin/clients/{client_id}",
             [impl, client_admin, admin](net::HttpRequest&&, const net::RequestContext& context,
                                         net::Responder respond) {
               auto call = client_admin(context, respond);
               if (!call) return;
               impl->Offload(context.request_id, respond,
                             [admin, id = context.path_params.at("client_id"), call = *call] {
                               return GetClient(admin(), id, call);
                             });
             });
  for (const std::string verb : {"renew", "suspend", "resume", "revoke"}) {
    router.Add(http::verb::post, "/api/v1/admin/clients/{client_id}/" + verb,
               [impl, client_admin, admin, verb](net::HttpRequest&& request,
                                                 const net::RequestContext& context,
                                                 net::Responder respond) {
                 auto call = client_admin(context, respond);
                 if (!call) return;
                 impl->Offload(context.request_id, respond,
                               [admin, verb, id = context.path_params.at("client_id"),
                                body = std::move(request.body()), call = *call] {
                                 return verb == "renew"
                                            ? RenewClient(admin(), id, body, call)
                                            : ChangeClientStatus(admin(), id, verb, body, call);
                               });
               });
  }
  router.Add(http::verb::get, "/api/v1/crl",
             [impl](net::HttpRequest&&, const net::RequestContext& context,
                    net::Responder respond) { respond(impl->GetCrl(context)); });
  router.Add(http::verb::post, std::string(api::kDeliveriesPath),
             [impl](net::HttpRequest&& request, const net::RequestContext& context,
                    net::Responder respond) {
               if (auto ok = impl->Authorize(context, pki::ServiceRole::kWorker); !ok) {
                 return respond(net::MakeErrorResponse(ok.error(), context.request_id));
               }
               impl->Offload(context.request_id, respond,
                             [impl, body = std::move(request.body()), rid = context.request_id] {
                               return impl->Deliver(body, rid);
                             });
             });
  router.Add(http::verb::get, std::string(api::kListMessagesPath),
             [impl](net::HttpRequest&& request, const net::RequestContext& context,
                    net::Responder respond) {
               if (auto ok = impl->Authorize(context, pki::ServiceRole::kAdmin); !ok) {
                 return respond(net::MakeErrorResponse(ok.error(), context.request_id));
               }
               impl->Offload(
                   context.request_id, respond,
                   [impl, target = std::string(request.target()), rid = context.request_id] {
                     return impl->ListMessages(target, rid);
                   });
             });
  router.Add(
      http::verb::get, std::string(api::kGetMessagePath),
      [impl](net::HttpRequest&&, const net::RequestContext& context, net::Responder respond) {
        if (auto ok = impl->Authorize(context, pki::ServiceRole::kAdmin); !ok) {
          return respond(net::MakeErrorResponse(ok.error(), context.request_id));
        }
        const auto it = context.path_params.find("id");
        std::string id = it == context.path_params.end() ? std::string() : it->second;
        impl->Offload(context.request_id, respond,
                      [impl, id, rid = context.request_id] { return impl->GetMessage(id, rid); });
      });
}

std::map<std::string, net::HealthCheck> MainServerService::Health() const {
  std::map<std::string, net::HealthCheck> checks;
  {
    std::lock_guard lock(impl_->database_mu);
    checks["database"] = impl_->database_status
                             ? net::HealthCheck{net::HealthState::kHealthy, "ok"}
                             : net::HealthCheck{net::HealthState::kUnhealthy,
                                                impl_->database_status.error().message};
  }
  checks["blocking_pool"] = {impl_->pending.load() >= impl_->options.max_pending_jobs
                                 ? net::HealthState::kDegraded
                                 : net::HealthState::kHealthy,
                             "pending=" + std::to_string(impl_->pending.load())};
  return checks;
}

}  // namespace msgbroker::main_server
