#pragma once
// Real servers (Redis, PostgreSQL, MariaDB) for the database tests.
//
// CMake's msgbroker_test_server(<name> SCRIPT <script>) registers CTest fixtures that run
// `<script> start <dir>` before, and `<script> stop <dir>` after, every test that requires the
// server (msgbroker_test(... SERVERS <name>)). The start script launches the server on loopback
// on a free port, as its own process tree under <dir>, and writes <dir>/server.env: KEY=VALUE
// lines (e.g. REDIS_URL=redis://127.0.0.1:40123, DATABASE_URL=postgresql://...). The stop script
// ends it by the PID it recorded. Tests find the directory through MSGBROKER_TEST_SERVERS.
// The Redis and PostgreSQL scripts also take `down <dir>` (stop by the recorded PID, keeping data,
// port and password) and `up <dir>` (start again the same way), for the fault tests, which use
// fixtures of their own (e.g. redis_restart) so a restart never reaches another test.

#include <map>
#include <string>
#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker::testing {

// The KEY=VALUE settings of a running test server. An error (which the test must report as a
// failure, never skip) when the fixture did not run or the file is missing.
Result<std::map<std::string, std::string>> TestServerEnv(std::string_view server);

// One value of TestServerEnv, or an error naming the server and key.
Result<std::string> TestServerSetting(std::string_view server, std::string_view key);

}  // namespace msgbroker::testing
