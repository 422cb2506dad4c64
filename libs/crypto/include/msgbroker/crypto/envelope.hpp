#pragma once
// Envelope encryption of message content on its way through the queue
// (docs/adr/0004-queue-envelope-encryption.md).
//
// The proxy holds only the main server's X25519 *public* key. It encrypts message content with
// AES-256-GCM under a data key (DEK) that it rotates (every `rotate_after_messages` messages or
// `rotate_after` time), and attaches the DEK sealed to the main server's public key
// (libsodium crypto_box_seal). Only the main server, with the secret key, can open what is in
// the queue; a compromised proxy or queue reveals nothing about past messages. The expensive
// public-key operation runs once per DEK, not per message.
//
// Wire format (all binary):  "MBE1" | u16 sealed_dek_len | sealed_dek | 12-byte nonce | ct+tag

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker::crypto {

// Writes a new key pair: public key file (base64, 0644) and secret key file (base64, 0600).
Status CreateEnvelopeKeyPair(const std::filesystem::path& public_key_file,
                             const std::filesystem::path& secret_key_file);

class EnvelopeSealer {
 public:
  struct Options {
    std::size_t rotate_after_messages = 100'000;
    std::chrono::seconds rotate_after{300};
  };
  static Result<std::unique_ptr<EnvelopeSealer>> LoadPublicKeyFile(
      const std::filesystem::path& path, Options options);
  static Result<std::unique_ptr<EnvelopeSealer>> LoadPublicKeyFile(
      const std::filesystem::path& path) {
    return LoadPublicKeyFile(path, Options{});
  }
  ~EnvelopeSealer();
  // Thread-safe.
  Result<std::string> Seal(std::string_view plaintext, std::string_view associated_data);

 private:
  struct Impl;
  explicit EnvelopeSealer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class EnvelopeOpener {
 public:
  static Result<std::unique_ptr<EnvelopeOpener>> LoadSecretKeyFile(
      const std::filesystem::path& public_key_file, const std::filesystem::path& secret_key_file);
  ~EnvelopeOpener();
  // Thread-safe; caches opened DEKs (bounded). kDataCorrupted on any malformed or forged input.
  Result<std::string> Open(std::string_view envelope, std::string_view associated_data);

 private:
  struct Impl;
  explicit EnvelopeOpener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace msgbroker::crypto
