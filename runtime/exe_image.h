// runtime/exe_image.h: the executable's ELF file, mapped read-only from /proc/self/exe, for what is
// not loaded at run time: section headers (where the PLT is) and .symtab (names of functions
// with internal linkage, for stack traces).
#pragma once

#include <elf.h>

#include <cstddef>

namespace urgent::rt {

class ExeImage {
 public:
  ExeImage();  // maps the file; ok() says whether it is a readable 64-bit ELF
  ~ExeImage();
  ExeImage(const ExeImage&) = delete;
  ExeImage& operator=(const ExeImage&) = delete;

  bool ok() const { return base_ != nullptr; }
  int sections() const;
  const Elf64_Shdr& section(int i) const;
  const char* section_name(int i) const;
  const char* at(std::size_t offset) const { return base_ + offset; }

 private:
  const char* base_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace urgent::rt
