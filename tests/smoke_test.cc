#include <gtest/gtest.h>
#include <urgent/urgent.h>
#include <atomic>
TEST(Smoke, RunReturnsStatus) {
  EXPECT_EQ(urgent::run([] { return 7; }), 7);
}
TEST(Smoke, SpawnAndYield) {
  std::atomic<int> n{0};
  int r = urgent::run([&] {
    for (int i = 0; i < 100; i++) urgent::go([&] { n++; });
    while (n.load() < 100) urgent::gosched();
    return 0;
  });
  EXPECT_EQ(r, 0);
  EXPECT_EQ(n.load(), 100);
}
