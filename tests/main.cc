// tests/main.cc: GoogleTest main that ends with the plain summary line CI reads:
// `tests: N passed, N failed, N skipped`.
#include <gtest/gtest.h>

#include <cstdio>

namespace {

class Summary : public testing::EmptyTestEventListener {
  void OnTestProgramEnd(const testing::UnitTest& u) override {
    std::printf("gtest: %d passed, %d failed, %d skipped\n", u.successful_test_count(),
                u.failed_test_count(), u.skipped_test_count());
    std::fflush(stdout);
  }
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  // Death tests fork and re-run this binary: safe with the runtime's threads.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  testing::UnitTest::GetInstance()->listeners().Append(new Summary);
  return RUN_ALL_TESTS();
}
