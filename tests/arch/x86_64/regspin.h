/* tests/arch/x86_64/regspin.h: the layout regspin.S reads and writes, shared with the C++
 * test (preempt_test.cc static_asserts every offset). Plain #defines: the assembler includes
 * it. */
#pragma once

#define RS_GPR 0        /* 14 expected GPRs: rax rbx rcx rdx rsi rbp r8 .. r15 */
#define RS_NGPR 14
#define RS_SELF 112     /* the struct's own address: expected rdi */
#define RS_RSP 120      /* rsp inside the spin, written by regspin itself */
#define RS_COUNT 128    /* iterations left (decremented in memory: no register is free) */
#define RS_BAD 136      /* in-loop mismatches seen (GPRs, rsp, rdi, carry flag) */
#define RS_MXCSR 144    /* MXCSR to spin with (4 bytes), then the x87 control word (2) */
#define RS_FCW 148
#define RS_DUMP_MXCSR 152
#define RS_DUMP_FCW 156
#define RS_DUMP_FLAGS 160 /* rflags at the end of the spin */
#define RS_DUMP_GPR 168   /* 14 GPRs at the end of the spin */
#define RS_K 280          /* 8 expected opmask registers k0..k7 */
#define RS_DUMP_K 344
#define RS_VEC 448        /* 32 expected vector registers, 64 bytes each (64-aligned) */
#define RS_DUMP_VEC 2496  /* the vector registers at the end of the spin */
#define RS_RZ 4544        /* 16 values for the red-zone test */
#define RS_SIZE 4672
