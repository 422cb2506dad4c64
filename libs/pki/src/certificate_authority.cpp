#include "msgbroker/pki/certificate_authority.hpp"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>
#include <utility>

#include "openssl_util.hpp"

namespace msgbroker::pki {
namespace {

using detail::BignumPtr;
using detail::BioPtr;
using detail::DrainOpenSslErrors;
using detail::EvpPkeyPtr;
using detail::GeneralNamePtr;
using detail::GeneralNamesPtr;
using detail::X509ExtensionPtr;
using detail::X509Ptr;

constexpr std::chrono::minutes kBackdate{5};
constexpr std::size_t kMaxPemFileSize = 1 << 20;
constexpr std::size_t kMaxOrganizationLength = 64;  // ub-organization-name (RFC 5280)

std::string Quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

std::string ErrnoText(int error) { return std::system_category().message(error); }

tl::unexpected<Error> OpenSslFailure(std::string_view what) {
  return Fail(ErrorCode::kInternal, std::string(what) + ": " + DrainOpenSslErrors());
}

// Keys must never be read from encrypted PEM by prompting on a terminal.
int RefusePassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return -1; }

// A hostname of 1-63 character labels of [A-Za-z0-9-] not starting or ending with '-'.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label_start = 0;
  while (label_start <= name.size()) {
    std::size_t label_end = name.find('.', label_start);
    if (label_end == std::string_view::npos) label_end = name.size();
    const std::string_view label = name.substr(label_start, label_end - label_start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char c : label) {
      const bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    label_start = label_end + 1;
  }
  return true;
}

struct SubjectAltNames {
  std::vector<std::string> dns;
  std::vector<std::string> ip;
  std::vector<std::string> uri;
};

// What distinguishes one kind of end-entity certificate from another.
struct LeafProfile {
  std::string common_name;
  std::string organization;  // omitted from the subject when empty
  SubjectAltNames alt_names;
  const char* extended_key_usage = "";
  std::chrono::days validity{};
  KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256;
};

Result<EvpPkeyPtr> GenerateKey(KeyAlgorithm algorithm) {
  EVP_PKEY* key = algorithm == KeyAlgorithm::kRsa3072
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{3072})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) return OpenSslFailure("key generation failed");
  return EvpPkeyPtr(key);
}

Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslFailure("cannot draw a serial number");
  bytes[0] &= 0x7f;  // DER INTEGERs are signed: keep the serial positive
  const BignumPtr serial(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (serial == nullptr ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslFailure("cannot set the serial number");
  }
  return Ok();
}

Status SetValidity(X509* cert, SystemTime not_before, SystemTime not_after) {
  const auto to_time_t = [](SystemTime time) {
    return static_cast<std::time_t>(
        std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count());
  };
  if (ASN1_TIME_set(X509_getm_notBefore(cert), to_time_t(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), to_time_t(not_after)) == nullptr) {
    return OpenSslFailure("cannot set the validity period");
  }
  return Ok();
}

Status AddNameEntry(X509_NAME* name, int nid, std::string_view value) {
  if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return OpenSslFailure(std::string("cannot set subject ") + OBJ_nid2sn(nid) + "=" +
                          std::string(value));
  }
  return Ok();
}

Status SetSubject(X509* cert, std::string_view common_name, std::string_view organization) {
  X509_NAME* name = X509_get_subject_name(cert);
  if (!organization.empty()) {
    if (auto status = AddNameEntry(name, NID_organizationName, organization); !status) {
      return status;
    }
  }
  return AddNameEntry(name, NID_commonName, common_name);
}

// `value` uses the openssl x509v3_config syntax; only constant strings are passed here so that
// request data can never inject extra extension fields.
Status AddExtension(X509* cert, X509V3_CTX* context, int nid, const char* value) {
  const X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, context, nid, value));
  if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpenSslFailure(std::string("cannot add the ") + OBJ_nid2sn(nid) + " extension");
  }
  return Ok();
}

Status AddExtensions(X509* cert, X509V3_CTX* context,
                     std::initializer_list<std::pair<int, const char*>> extensions) {
  for (const auto& [nid, value] : extensions) {
    if (auto status = AddExtension(cert, context, nid, value); !status) return status;
  }
  return Ok();
}

Status PushGeneralName(GENERAL_NAMES* names, int type, ASN1_STRING* value) {
  if (value == nullptr) return OpenSslFailure("cannot encode a subject alternative name");
  GeneralNamePtr name(GENERAL_NAME_new());
  if (name == nullptr) {
    ASN1_STRING_free(value);
    return OpenSslFailure("cannot allocate a subject alternative name");
  }
  GENERAL_NAME_set0_value(name.get(), type, value);
  if (sk_GENERAL_NAME_push(names, name.get()) <= 0) {
    return OpenSslFailure("cannot add a subject alternative name");
  }
  name.release();  // now owned by `names`
  return Ok();
}

ASN1_STRING* Ia5String(std::string_view text) {
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  if (value != nullptr && ASN1_STRING_set(value, text.data(), static_cast<int>(text.size())) != 1) {
    ASN1_IA5STRING_free(value);
    return nullptr;
  }
  return value;
}

// Built from GENERAL_NAME values rather than config text: names come from requests.
Status AddSubjectAltNames(X509* cert, const SubjectAltNames& alt_names) {
  const GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslFailure("cannot allocate subject alternative names");
  for (const std::string& uri : alt_names.uri) {
    if (auto status = PushGeneralName(names.get(), GEN_URI, Ia5String(uri)); !status) return status;
  }
  for (const std::string& dns : alt_names.dns) {
    if (auto status = PushGeneralName(names.get(), GEN_DNS, Ia5String(dns)); !status) return status;
  }
  for (const std::string& ip : alt_names.ip) {
    if (auto status = PushGeneralName(names.get(), GEN_IPADD, a2i_IPADDRESS(ip.c_str())); !status) {
      return status;
    }
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslFailure("cannot add the subjectAltName extension");
  }
  return Ok();
}

Result<std::string> CertificatePem(X509* cert) {
  const BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslFailure("cannot encode the certificate as PEM");
  }
  return detail::MemoryBioContents(bio.get());
}

Result<std::string> PrivateKeyPem(EVP_PKEY* key) {
  // Secure-heap memory BIO: the buffer is wiped when freed.
  const BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslFailure("cannot encode the private key as PKCS#8 PEM");
  }
  return detail::MemoryBioContents(bio.get());
}

void WipeString(std::string& secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now so that the error of close(2) can be reported.
  int Close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

enum class ExistingFile { kReplace, kKeep };

Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::string_view what) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return Fail(ErrorCode::kNotFound,
                  std::string(what) + " file " + Quoted(path) + " does not exist");
    }
    return Fail(ErrorCode::kInternal, "cannot open " + std::string(what) + " file " + Quoted(path) +
                                          ": " + ErrnoText(error));
  }
  std::string contents;
  char buffer[8192];
  while (true) {
    const ssize_t count = ::read(fd.get(), buffer, sizeof(buffer));
    if (count < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      WipeString(contents);
      return Fail(ErrorCode::kInternal, "cannot read " + std::string(what) + " file " +
                                            Quoted(path) + ": " + ErrnoText(error));
    }
    if (count == 0) break;
    contents.append(buffer, static_cast<std::size_t>(count));
    if (contents.size() > kMaxPemFileSize) {
      WipeString(contents);
      return Fail(ErrorCode::kInvalidRequest, std::string(what) + " file " + Quoted(path) +
                                                  " is larger than 1 MiB; it is not a PEM file");
    }
  }
  OPENSSL_cleanse(buffer, sizeof(buffer));
  return contents;
}

Status WriteAllAndSync(int fd, std::string_view contents, const std::filesystem::path& temp) {
  while (!contents.empty()) {
    const ssize_t count = ::write(fd, contents.data(), contents.size());
    if (count < 0) {
      if (errno == EINTR) continue;
      return Fail(ErrorCode::kInternal, "cannot write " + Quoted(temp) + ": " + ErrnoText(errno));
    }
    contents.remove_prefix(static_cast<std::size_t>(count));
  }
  if (::fsync(fd) != 0) {
    return Fail(ErrorCode::kInternal, "cannot fsync " + Quoted(temp) + ": " + ErrnoText(errno));
  }
  return Ok();
}

Status SyncDirectory(const std::filesystem::path& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return Fail(ErrorCode::kInternal,
                "cannot fsync directory " + Quoted(directory) + ": " + ErrnoText(errno));
  }
  return Ok();
}

// Writes a temporary file next to `path`, then renames it into place (kReplace) or hard-links it
// there, which fails if `path` exists (kKeep).
Status WriteFileViaTemp(const std::filesystem::path& path, std::string_view contents,
                        std::filesystem::perms perms, ExistingFile existing) {
  if (path.filename().empty()) {
    return Fail(ErrorCode::kInvalidRequest, "cannot write " + Quoted(path) + ": not a file name");
  }
  const std::filesystem::path directory =
      path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  const auto mode = static_cast<mode_t>(perms & std::filesystem::perms::mask);

  std::filesystem::path temp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < 16 && raw_fd < 0; ++attempt) {
    unsigned char suffix[8];
    if (RAND_bytes(suffix, sizeof(suffix)) != 1) {
      return OpenSslFailure("cannot name a temporary file for " + Quoted(path));
    }
    std::string name = "." + path.filename().string() + ".tmp-";
    for (const unsigned char byte : suffix) name += "0123456789abcdef"[byte & 0x0f];
    temp = directory / name;
    raw_fd = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
    if (raw_fd < 0 && errno != EEXIST) break;
  }
  if (raw_fd < 0) {
    return Fail(ErrorCode::kInternal,
                "cannot create a temporary file for " + Quoted(path) + ": " + ErrnoText(errno));
  }
  FileDescriptor fd(raw_fd);
  const auto fail = [&temp](Error error) -> Status {
    ::unlink(temp.c_str());
    return tl::unexpected<Error>(std::move(error));
  };
  // The umask may have narrowed `mode`; set it exactly.
  if (::fchmod(fd.get(), mode) != 0) {
    return fail({ErrorCode::kInternal,
                 "cannot set permissions of " + Quoted(temp) + ": " + ErrnoText(errno)});
  }
  if (auto status = WriteAllAndSync(fd.get(), contents, temp); !status) {
    return fail(status.error());
  }
  if (fd.Close() != 0) {
    return fail({ErrorCode::kInternal, "cannot close " + Quoted(temp) + ": " + ErrnoText(errno)});
  }
  if (existing == ExistingFile::kReplace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return fail({ErrorCode::kInternal, "cannot rename " + Quoted(temp) + " to " + Quoted(path) +
                                             ": " + ErrnoText(errno)});
    }
  } else {
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const int error = errno;
      return fail({error == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kInternal,
                   error == EEXIST ? "refusing to overwrite existing file " + Quoted(path)
                                   : "cannot create " + Quoted(path) + ": " + ErrnoText(error)});
    }
    ::unlink(temp.c_str());
  }
  return SyncDirectory(directory);
}

}  // namespace

struct CertificateAuthority::Impl {
  EvpPkeyPtr key;
  X509Ptr cert;
  std::string certificate_pem;
  CertificateInfo info;
  const Clock* clock;

  static Result<std::unique_ptr<Impl>> Make(X509Ptr cert, EvpPkeyPtr key, const Clock& clock) {
    auto pem = CertificatePem(cert.get());
    if (!pem) return tl::unexpected<Error>(pem.error());
    auto impl = std::make_unique<Impl>();
    impl->info = Describe(cert.get());
    impl->certificate_pem = std::move(*pem);
    impl->key = std::move(key);
    impl->cert = std::move(cert);
    impl->clock = &clock;
    return impl;
  }

  // `subject_key` null: a new key of profile.algorithm is generated and returned with the
  // certificate; otherwise the certificate is for that (public) key and no key is returned.
  Result<IssuedCertificate> Issue(const LeafProfile& profile,
                                  EVP_PKEY* subject_key = nullptr) const;
};

Result<IssuedCertificate> CertificateAuthority::Impl::Issue(const LeafProfile& profile,
                                                            EVP_PKEY* subject_key) const {
  if (profile.validity.count() <= 0) {
    return Fail(ErrorCode::kInvalidRequest, "validity must be at least one day", "validity");
  }
  Result<EvpPkeyPtr> leaf_key = EvpPkeyPtr();
  if (subject_key == nullptr) {
    leaf_key = GenerateKey(profile.algorithm);
  } else if (EVP_PKEY_up_ref(subject_key) == 1) {
    leaf_key = EvpPkeyPtr(subject_key);
  } else {
    return OpenSslFailure("cannot reference the subject key");
  }
  if (!leaf_key) return tl::unexpected<Error>(leaf_key.error());

  const X509Ptr leaf(X509_new());
  if (leaf == nullptr || X509_set_version(leaf.get(), X509_VERSION_3) != 1) {
    return OpenSslFailure("cannot allocate a certificate");
  }
  const SystemTime now = clock->Now();
  if (auto status = SetRandomSerial(leaf.get()); !status) return tl::unexpected(status.error());
  if (auto status = SetValidity(leaf.get(), now - kBackdate, now + profile.validity); !status) {
    return tl::unexpected(status.error());
  }
  if (auto status = SetSubject(leaf.get(), profile.common_name, profile.organization); !status) {
    return tl::unexpected(status.error());
  }
  if (X509_set_issuer_name(leaf.get(), X509_get_subject_name(cert.get())) != 1 ||
      X509_set_pubkey(leaf.get(), leaf_key->get()) != 1) {
    return OpenSslFailure("cannot set the issuer or public key");
  }

  X509V3_CTX context;
  X509V3_set_ctx(&context, cert.get(), leaf.get(), nullptr, nullptr, 0);
  const char* key_usage = EVP_PKEY_get_base_id(leaf_key->get()) == EVP_PKEY_RSA
                              ? "critical,digitalSignature,keyEncipherment"
                              : "critical,digitalSignature";
  if (auto status = AddExtensions(leaf.get(), &context,
                                  {{NID_basic_constraints, "critical,CA:FALSE"},
                                   {NID_key_usage, key_usage},
                                   {NID_ext_key_usage, profile.extended_key_usage},
                                   {NID_subject_key_identifier, "hash"},
                                   {NID_authority_key_identifier, "keyid:always"}});
      !status) {
    return tl::unexpected(status.error());
  }
  if (auto status = AddSubjectAltNames(leaf.get(), profile.alt_names); !status) {
    return tl::unexpected(status.error());
  }
  if (X509_sign(leaf.get(), key.get(), EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign the certificate");
  }

  auto leaf_pem = CertificatePem(leaf.get());
  if (!leaf_pem) return tl::unexpected(leaf_pem.error());
  if (subject_key != nullptr) {
    return IssuedCertificate{std::move(*leaf_pem), std::string(), Describe(leaf.get())};
  }
  auto leaf_key_pem = PrivateKeyPem(leaf_key->get());
  if (!leaf_key_pem) return tl::unexpected(leaf_key_pem.error());
  return IssuedCertificate{std::move(*leaf_pem), std::move(*leaf_key_pem), Describe(leaf.get())};
}

CertificateAuthority::CertificateAuthority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CertificateAuthority::~CertificateAuthority() = default;
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;

Result<CertificateAuthority> CertificateAuthority::Create(const CaOptions& options,
                                                          const Clock& clock) {
  if (options.validity.count() <= 0) {
    return Fail(ErrorCode::kInvalidRequest, "CA validity must be at least one day", "validity");
  }
  if (options.common_name.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "CA common name must not be empty", "common_name");
  }
  auto key = GenerateKey(options.algorithm);
  if (!key) return tl::unexpected(key.error());

  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslFailure("cannot allocate a certificate");
  }
  const SystemTime now = clock.Now();
  if (auto status = SetRandomSerial(cert.get()); !status) return tl::unexpected(status.error());
  if (auto status = SetValidity(cert.get(), now - kBackdate, now + options.validity); !status) {
    return tl::unexpected(status.error());
  }
  if (auto status = SetSubject(cert.get(), options.common_name, options.organization); !status) {
    return tl::unexpected(status.error());
  }
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1 ||
      X509_set_pubkey(cert.get(), key->get()) != 1) {
    return OpenSslFailure("cannot set the issuer or public key");
  }

  X509V3_CTX context;
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  // The subject key identifier goes first: the authority key identifier copies it.
  if (auto status = AddExtensions(cert.get(), &context,
                                  {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                   {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   {NID_subject_key_identifier, "hash"},
                                   {NID_authority_key_identifier, "keyid:always"}});
      !status) {
    return tl::unexpected(status.error());
  }
  if (X509_sign(cert.get(), key->get(), EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign the CA certificate");
  }

  auto impl = Impl::Make(std::move(cert), std::move(*key), clock);
  if (!impl) return tl::unexpected(impl.error());
  return CertificateAuthority(std::move(*impl));
}

Result<CertificateAuthority> CertificateAuthority::Load(const std::filesystem::path& cert_file,
                                                        const std::filesystem::path& key_file,
                                                        const Clock& clock) {
  auto cert_text = ReadSmallFile(cert_file, "CA certificate");
  if (!cert_text) return tl::unexpected(cert_text.error());
  auto key_text = ReadSmallFile(key_file, "CA key");
  if (!key_text) return tl::unexpected(key_text.error());

  const BioPtr cert_bio = detail::MemoryBio(*cert_text);
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, RefusePassphrase, nullptr));
  if (cert == nullptr) {
    WipeString(*key_text);
    return Fail(ErrorCode::kInvalidRequest,
                "CA certificate file " + Quoted(cert_file) +
                    " does not hold a PEM certificate: " + DrainOpenSslErrors());
  }
  const BioPtr key_bio = detail::MemoryBio(*key_text);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, RefusePassphrase, nullptr));
  WipeString(*key_text);
  if (key == nullptr) {
    return Fail(ErrorCode::kInvalidRequest,
                "CA key file " + Quoted(key_file) +
                    " does not hold an unencrypted PEM private key: " + DrainOpenSslErrors());
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidRequest, "CA key file " + Quoted(key_file) +
                                                " does not match CA certificate file " +
                                                Quoted(cert_file));
  }
  if (!Describe(cert.get()).is_ca) {
    return Fail(ErrorCode::kInvalidRequest, "certificate file " + Quoted(cert_file) +
                                                " is not a CA certificate (no basicConstraints "
                                                "CA:TRUE)");
  }
  auto impl = Impl::Make(std::move(cert), std::move(key), clock);
  if (!impl) return tl::unexpected(impl.error());
  return CertificateAuthority(std::move(*impl));
}

Status CertificateAuthority::Save(const std::filesystem::path& cert_file,
                                  const std::filesystem::path& key_file) const {
  for (const auto& file : {cert_file, key_file}) {
    std::error_code error;
    if (std::filesystem::exists(std::filesystem::symlink_status(file, error))) {
      return Fail(ErrorCode::kAlreadyExists, "refusing to overwrite existing file " + Quoted(file));
    }
  }
  auto key_pem = PrivateKeyPem(impl_->key.get());
  if (!key_pem) return tl::unexpected(key_pem.error());
  auto key_status = WriteFileViaTemp(
      key_file, *key_pem, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      ExistingFile::kKeep);
  WipeString(*key_pem);
  if (!key_status) return key_status;
  using std::filesystem::perms;
  auto cert_status = WriteFileViaTemp(
      cert_file, impl_->certificate_pem,
      perms::owner_read | perms::owner_write | perms::group_read | perms::others_read,
      ExistingFile::kKeep);
  if (!cert_status) {
    // Leave nothing half-saved behind: the key alone is useless and would block a retry.
    std::error_code ignored;
    std::filesystem::remove(key_file, ignored);
  }
  return cert_status;
}

namespace {

Result<LeafProfile> ClientProfile(const ClientCertificateRequest& request) {
  if (request.client_id.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "client id must not be empty", "client_id");
  }
  if (request.domain.size() > kMaxOrganizationLength) {
    return Fail(ErrorCode::kInvalidRequest,
                "domain must be at most 64 characters (it becomes the subject O= field)", "domain");
  }
  LeafProfile profile;
  profile.common_name = request.client_id.str();
  profile.organization = request.domain;
  profile.alt_names.uri.push_back(std::string(kClientUriPrefix) + request.client_id.str());
  if (IsDnsName(request.domain)) profile.alt_names.dns.push_back(request.domain);
  profile.extended_key_usage = "clientAuth";
  profile.validity = request.validity;
  profile.algorithm = request.algorithm;
  return profile;
}

}  // namespace

Result<IssuedCertificate> CertificateAuthority::IssueClient(
    const ClientCertificateRequest& request) const {
  auto profile = ClientProfile(request);
  if (!profile) return tl::unexpected(profile.error());
  return impl_->Issue(*profile);
}

Result<IssuedCertificate> CertificateAuthority::IssueService(
    const ServiceCertificateRequest& request) const {
  const std::string_view role = RoleName(request.role);
  if (!ParseRole(role)) {
    return Fail(ErrorCode::kInvalidRequest, "unknown service role", "role");
  }
  LeafProfile profile;
  profile.common_name = std::string(role);
  profile.alt_names.uri.push_back(std::string(kRoleUriPrefix) + std::string(role));
  for (const std::string& name : request.dns_names) {
    if (!IsDnsName(name)) {
      return Fail(ErrorCode::kInvalidRequest, "'" + name + "' is not a valid DNS name",
                  "dns_names");
    }
    profile.alt_names.dns.push_back(name);
  }
  for (const std::string& address : request.ip_addresses) {
    ASN1_OCTET_STRING* parsed = a2i_IPADDRESS(address.c_str());
    if (parsed == nullptr) {
      ERR_clear_error();
      return Fail(ErrorCode::kInvalidRequest, "'" + address + "' is not a valid IP address",
                  "ip_addresses");
    }
    ASN1_OCTET_STRING_free(parsed);
    profile.alt_names.ip.push_back(address);
  }
  profile.extended_key_usage = "serverAuth,clientAuth";
  profile.validity = request.validity;
  profile.algorithm = request.algorithm;
  return impl_->Issue(profile);
}

namespace {

constexpr std::size_t kMaxCsrSize = 64 * 1024;

tl::unexpected<Error> CsrError(std::string message) {
  ERR_clear_error();
  return Fail(ErrorCode::kInvalidRequest, std::move(message), "csr");
}

// RSA of at least 2048 bits or EC on P-256/P-384; anything else is refused by name.
Status CheckCsrKey(EVP_PKEY* key) {
  const int type = EVP_PKEY_get_base_id(key);
  if (type == EVP_PKEY_RSA) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits < 2048) {
      return CsrError("the CSR's RSA key has " + std::to_string(bits) +
                      " bits; at least 2048 are required");
    }
    return Ok();
  }
  if (type == EVP_PKEY_EC) {
    char group[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &length) != 1) {
      return CsrError("the CSR's EC key has no named curve; only P-256 and P-384 are accepted");
    }
    const std::string_view name(group, length);
    if (name == "prime256v1" || name == "P-256" || name == "secp384r1" || name == "P-384") {
      return Ok();
    }
    return CsrError("the CSR's EC key is on curve " + std::string(name) +
                    "; only P-256 and P-384 are accepted");
  }
  const char* name = OBJ_nid2sn(type);
  return CsrError(std::string("the CSR's key type ") + (name != nullptr ? name : "unknown") +
                  " is not accepted; use RSA (2048 bits or more) or EC P-256/P-384");
}

using X509ReqPtr = std::unique_ptr<X509_REQ, detail::OpenSslDeleter<&X509_REQ_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, detail::OpenSslDeleter<&X509_CRL_free>>;
using X509RevokedPtr = std::unique_ptr<X509_REVOKED, detail::OpenSslDeleter<&X509_REVOKED_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, detail::OpenSslDeleter<&ASN1_TIME_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, detail::OpenSslDeleter<&ASN1_INTEGER_free>>;
using Asn1EnumeratedPtr =
    std::unique_ptr<ASN1_ENUMERATED, detail::OpenSslDeleter<&ASN1_ENUMERATED_free>>;

Asn1TimePtr Asn1Time(SystemTime time) {
  return Asn1TimePtr(ASN1_TIME_set(
      nullptr, static_cast<std::time_t>(
                   std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count())));
}

bool IsLowerHex(std::string_view text) {
  if (text.empty() || text.size() > 40) return false;  // serials are at most 20 octets
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Result<IssuedCertificate> CertificateAuthority::SignClientCsr(
    const ClientCertificateRequest& request, std::string_view csr_pem) const {
  auto profile = ClientProfile(request);
  if (!profile) return tl::unexpected(profile.error());
  if (csr_pem.size() > kMaxCsrSize) return CsrError("the CSR is larger than 64 KiB");
  const BioPtr bio = detail::MemoryBio(csr_pem);
  const X509ReqPtr csr(bio == nullptr
                           ? nullptr
                           : PEM_read_bio_X509_REQ(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (csr == nullptr) {
    return CsrError(
        "the CSR is not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr.get());
  if (key == nullptr) return CsrError("the CSR's public key cannot be decoded");
  if (auto status = CheckCsrKey(key); !status) return tl::unexpected(status.error());
  if (X509_REQ_verify(csr.get(), key) != 1) {
    return CsrError("the CSR's signature does not verify with its own public key");
  }
  return impl_->Issue(*profile, key);
}

Result<Crl> CertificateAuthority::MakeCrl(const CrlRequest& request) const {
  if (request.validity.count() <= 0) {
    return Fail(ErrorCode::kInvalidRequest, "the CRL validity must be positive", "validity");
  }
  const X509CrlPtr crl(X509_CRL_new());
  if (crl == nullptr || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(impl_->cert.get())) != 1) {
    return OpenSslFailure("cannot allocate a CRL");
  }
  const Asn1TimePtr last = Asn1Time(request.this_update);
  const Asn1TimePtr next = Asn1Time(request.this_update + request.validity);
  if (last == nullptr || next == nullptr || X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return OpenSslFailure("cannot set the CRL update times");
  }
  for (const RevokedEntry& entry : request.revoked) {
    if (!IsLowerHex(entry.serial_hex)) {
      return Fail(ErrorCode::kInvalidRequest,
                  "'" + entry.serial_hex + "' is not a lowercase hex serial number", "serial");
    }
    X509RevokedPtr revoked(X509_REVOKED_new());
    BIGNUM* raw_serial = nullptr;
    if (revoked == nullptr || BN_hex2bn(&raw_serial, entry.serial_hex.c_str()) == 0) {
      return OpenSslFailure("cannot encode a revoked serial number");
    }
    const BignumPtr serial(raw_serial);
    const Asn1IntegerPtr serial_integer(BN_to_ASN1_INTEGER(serial.get(), nullptr));
    const Asn1TimePtr date = Asn1Time(entry.revoked_at);
    const Asn1EnumeratedPtr reason(ASN1_ENUMERATED_new());
    if (serial_integer == nullptr || date == nullptr || reason == nullptr ||
        X509_REVOKED_set_serialNumber(revoked.get(), serial_integer.get()) != 1 ||
        X509_REVOKED_set_revocationDate(revoked.get(), date.get()) != 1 ||
        ASN1_ENUMERATED_set(reason.get(), static_cast<long>(entry.reason)) != 1 ||
        X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, reason.get(), 0, 0) != 1 ||
        X509_CRL_add0_revoked(crl.get(), revoked.get()) != 1) {
      return OpenSslFailure("cannot add a revoked certificate to the CRL");
    }
    revoked.release();  // now owned by the CRL
  }
  const Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (number == nullptr || ASN1_INTEGER_set_uint64(number.get(), request.crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return OpenSslFailure("cannot set the CRL number");
  }
  X509V3_CTX context;
  X509V3_set_ctx(&context, impl_->cert.get(), nullptr, nullptr, crl.get(), 0);
  const X509ExtensionPtr authority_key(
      X509V3_EXT_conf_nid(nullptr, &context, NID_authority_key_identifier, "keyid:always"));
  if (authority_key == nullptr || X509_CRL_add_ext(crl.get(), authority_key.get(), -1) != 1) {
    return OpenSslFailure("cannot add the CRL authority key identifier");
  }
  if (X509_CRL_sort(crl.get()) != 1 ||
      X509_CRL_sign(crl.get(), impl_->key.get(), EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign the CRL");
  }
  const BioPtr pem_bio(BIO_new(BIO_s_mem()));
  if (pem_bio == nullptr || PEM_write_bio_X509_CRL(pem_bio.get(), crl.get()) != 1) {
    return OpenSslFailure("cannot encode the CRL as PEM");
  }
  unsigned char* der = nullptr;
  const int der_size = i2d_X509_CRL(crl.get(), &der);
  if (der_size <= 0) return OpenSslFailure("cannot encode the CRL as DER");
  Crl out{detail::MemoryBioContents(pem_bio.get()),
          std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_size))};
  OPENSSL_free(der);
  return out;
}

const std::string& CertificateAuthority::certificate_pem() const { return impl_->certificate_pem; }

const CertificateInfo& CertificateAuthority::info() const { return impl_->info; }

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           std::filesystem::perms perms) {
  return WriteFileViaTemp(path, contents, perms, ExistingFile::kReplace);
}

}  // namespace msgbroker::pki
