// Runs a fuzz target's entry point over files, for plain ctest (any
// compiler): every seed and every crash reproducer in the given files or
// directories must pass through without a crash or sanitizer report.
//   <target>_replay PATH...
// Fails when no input file was found, so a missing corpus cannot pass.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int files = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(path, ec))
        if (entry.is_regular_file()) files += run_file(entry.path());
    } else if (std::filesystem::is_regular_file(path, ec)) {
      files += run_file(path);
    }
  }
  std::printf("replayed %d input(s)\n", files);
  return files > 0 ? 0 : 1;
}
