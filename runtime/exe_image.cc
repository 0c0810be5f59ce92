// runtime/exe_image.cc: ExeImage (see exe_image.h).
#include "exe_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace urgent::rt {

ExeImage::ExeImage() {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  void* map = fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(sizeof(Elf64_Ehdr))
                  ? mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
                  : MAP_FAILED;
  close(fd);
  if (map == MAP_FAILED) return;
  auto* eh = static_cast<const Elf64_Ehdr*>(map);
  std::size_t size = static_cast<std::size_t>(st.st_size);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_shoff + std::size_t{eh->e_shnum} * sizeof(Elf64_Shdr) > size ||
      eh->e_shstrndx >= eh->e_shnum) {
    munmap(map, size);
    return;
  }
  base_ = static_cast<const char*>(map);
  size_ = size;
}

ExeImage::~ExeImage() {
  if (base_ != nullptr) munmap(const_cast<char*>(base_), size_);
}

int ExeImage::sections() const {
  return ok() ? reinterpret_cast<const Elf64_Ehdr*>(base_)->e_shnum : 0;
}

const Elf64_Shdr& ExeImage::section(int i) const {
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base_);
  return reinterpret_cast<const Elf64_Shdr*>(base_ + eh->e_shoff)[i];
}

const char* ExeImage::section_name(int i) const {
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base_);
  return base_ + section(eh->e_shstrndx).sh_offset + section(i).sh_name;
}

}  // namespace urgent::rt
