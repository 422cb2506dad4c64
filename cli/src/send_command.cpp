#include <iostream>
#include <nlohmann/json.hpp>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/cli/commands.hpp"
#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/net/https_client.hpp"

namespace msgbroker::cli {

namespace {

struct SendFlags {
  std::string url = "https://127.0.0.1:8001";
  std::string data_dir = "msgbroker-data";
  std::string client = std::string(kDemoClientId);
  std::string cert, key, ca;
  std::string sender;
  std::string body;
  std::string metadata;
  int timeout_ms = 10'000;
};

int RunSend(const SendFlags& f) {
  net::TlsClientConfig tls;
  if (f.cert.empty() || f.key.empty() || f.ca.empty()) {
    auto layout = OpenDataDir(f.data_dir);
    if (!layout) {
      std::cerr << "msgbroker send: " << layout.error().message
                << " (or pass --cert, --key and --ca)\n";
      return 2;
    }
    const auto dir = layout->client_dir(f.client);
    tls.cert_file = f.cert.empty() ? dir / "client.crt" : std::filesystem::path(f.cert);
    tls.key_file = f.key.empty() ? dir / "client.key" : std::filesystem::path(f.key);
    tls.ca_file = f.ca.empty() ? layout->ca_cert() : std::filesystem::path(f.ca);
  } else {
    tls.cert_file = f.cert;
    tls.key_file = f.key;
    tls.ca_file = f.ca;
  }
  auto endpoint = net::ParseUrl(f.url);
  if (!endpoint) {
    std::cerr << "msgbroker send: --url: " << endpoint.error().message << "\n";
    return 2;
  }
  nlohmann::json request = {{api::kFieldSenderNumber, f.sender}, {api::kFieldMessageBody, f.body}};
  if (!f.metadata.empty()) {
    auto metadata = nlohmann::json::parse(f.metadata, nullptr, false);
    if (metadata.is_discarded()) {
      std::cerr << "msgbroker send: --metadata is not valid JSON\n";
      return 2;
    }
    request[api::kFieldMetadata] = std::move(metadata);
  }
  net::HttpsClient client(*endpoint, tls, std::chrono::milliseconds{f.timeout_ms});
  auto response = client.PostJson(std::string(api::kSubmitMessagePath), request.dump());
  if (!response) {
    std::cerr << "msgbroker send: " << response.error().message << "\n";
    return 1;
  }
  std::cout << response->body() << std::endl;
  return response->result() == net::http::status::accepted ? 0 : 1;
}

}  // namespace

void RegisterSendCommand(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<SendFlags>();
  auto* send = app.add_subcommand("send", "Send one message to a proxy with a client certificate");
  send->add_option("--sender", f->sender, "Sender number, E.164 (+4915112345678)")->required();
  send->add_option("--body", f->body, "Message body")->required();
  send->add_option("--metadata", f->metadata, "Metadata, a JSON object");
  send->add_option("--url", f->url, "Proxy URL")->capture_default_str();
  send->add_option("--data-dir", f->data_dir, "Take the client's certificate from this data dir")
      ->capture_default_str();
  send->add_option("--client", f->client, "Client whose certificate to use from --data-dir")
      ->capture_default_str();
  send->add_option("--cert", f->cert, "Client certificate (PEM)");
  send->add_option("--key", f->key, "Client private key (PEM)");
  send->add_option("--ca", f->ca, "CA certificate that signed the proxy's certificate");
  send->add_option("--timeout-ms", f->timeout_ms, "Request timeout")->capture_default_str();
  send->callback([f, &run] { run = [f] { return RunSend(*f); }; });
}

}  // namespace msgbroker::cli
