// tests/arch/x86_64/regspin.S: goroutine bodies for the preemption tests that keep known
// values in registers while they spin, so that a preemption that loses any of them shows.
//
// urgent_test_regspin_avx512(rs = rdi) / urgent_test_regspin_sse(rs = rdi):
//   loads 14 GPRs, 32 ZMM (or 16 XMM) registers, k0..k7 (AVX-512), MXCSR, the x87 control
//   word and the carry and direction flags from *rs, then spins rs->count times. Each
//   iteration compares every GPR, rsp and rdi with what it must hold and checks that CF is
//   still set (a mismatch counts in rs->bad and reloads); nothing in the loop writes a
//   register (the counter lives in memory), so any value that changes was changed by
//   something else: a preemption that did not restore it. At the end it dumps the vector,
//   opmask and GPR state, rflags, MXCSR and the control word for the test to compare, then
//   restores the ABI's callee-saved state and returns.
//
// Frame (rsp is what rs->rsp records, checked every iteration):
//        | return address      |
//        | rbx rbp r12 .. r15  |  callee-saved, pushed
//        | caller MXCSR, FCW   |  8 bytes, restored at exit (the ABI says they are preserved)
//        | padding             |  <- rsp during the spin
//
// urgent_test_redzone_spin(rs = rdi): a leaf function that keeps 16 values in its red zone
// (the 128 bytes below rsp) and checks them every iteration; returns how many mismatches it
// saw. A preemption must push its frame below the red zone, never into it.

#include "regspin.h"

    .text

.macro LOAD_GPRS
    movq    RS_GPR+0*8(%rdi), %rax
    movq    RS_GPR+1*8(%rdi), %rbx
    movq    RS_GPR+2*8(%rdi), %rcx
    movq    RS_GPR+3*8(%rdi), %rdx
    movq    RS_GPR+4*8(%rdi), %rsi
    movq    RS_GPR+5*8(%rdi), %rbp
    movq    RS_GPR+6*8(%rdi), %r8
    movq    RS_GPR+7*8(%rdi), %r9
    movq    RS_GPR+8*8(%rdi), %r10
    movq    RS_GPR+9*8(%rdi), %r11
    movq    RS_GPR+10*8(%rdi), %r12
    movq    RS_GPR+11*8(%rdi), %r13
    movq    RS_GPR+12*8(%rdi), %r14
    movq    RS_GPR+13*8(%rdi), %r15
.endm

// Compares every GPR (and rsp, rdi) with its expected value; jumps to \bad on a mismatch.
// cmp writes only flags: SPIN checks CF before the comparisons and sets it again after.
.macro CHECK_GPRS bad
    cmpq    RS_SELF(%rdi), %rdi
    jne     \bad
    cmpq    RS_RSP(%rdi), %rsp
    jne     \bad
    cmpq    RS_GPR+0*8(%rdi), %rax
    jne     \bad
    cmpq    RS_GPR+1*8(%rdi), %rbx
    jne     \bad
    cmpq    RS_GPR+2*8(%rdi), %rcx
    jne     \bad
    cmpq    RS_GPR+3*8(%rdi), %rdx
    jne     \bad
    cmpq    RS_GPR+4*8(%rdi), %rsi
    jne     \bad
    cmpq    RS_GPR+5*8(%rdi), %rbp
    jne     \bad
    cmpq    RS_GPR+6*8(%rdi), %r8
    jne     \bad
    cmpq    RS_GPR+7*8(%rdi), %r9
    jne     \bad
    cmpq    RS_GPR+8*8(%rdi), %r10
    jne     \bad
    cmpq    RS_GPR+9*8(%rdi), %r11
    jne     \bad
    cmpq    RS_GPR+10*8(%rdi), %r12
    jne     \bad
    cmpq    RS_GPR+11*8(%rdi), %r13
    jne     \bad
    cmpq    RS_GPR+12*8(%rdi), %r14
    jne     \bad
    cmpq    RS_GPR+13*8(%rdi), %r15
    jne     \bad
.endm

.macro DUMP_GPRS
    movq    %rax, RS_DUMP_GPR+0*8(%rdi)
    movq    %rbx, RS_DUMP_GPR+1*8(%rdi)
    movq    %rcx, RS_DUMP_GPR+2*8(%rdi)
    movq    %rdx, RS_DUMP_GPR+3*8(%rdi)
    movq    %rsi, RS_DUMP_GPR+4*8(%rdi)
    movq    %rbp, RS_DUMP_GPR+5*8(%rdi)
    movq    %r8, RS_DUMP_GPR+6*8(%rdi)
    movq    %r9, RS_DUMP_GPR+7*8(%rdi)
    movq    %r10, RS_DUMP_GPR+8*8(%rdi)
    movq    %r11, RS_DUMP_GPR+9*8(%rdi)
    movq    %r12, RS_DUMP_GPR+10*8(%rdi)
    movq    %r13, RS_DUMP_GPR+11*8(%rdi)
    movq    %r14, RS_DUMP_GPR+12*8(%rdi)
    movq    %r15, RS_DUMP_GPR+13*8(%rdi)
.endm

.macro PROLOGUE
    pushq   %rbx
    pushq   %rbp
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)                  // the caller's, restored at exit
    fnstcw  4(%rsp)
    ldmxcsr RS_MXCSR(%rdi)          // spin with non-default rounding modes
    fldcw   RS_FCW(%rdi)
    movq    %rsp, RS_RSP(%rdi)
.endm

.macro EPILOGUE
    pushfq
    popq    RS_DUMP_FLAGS(%rdi)     // CF and DF must still be set
    cld
    stmxcsr RS_DUMP_MXCSR(%rdi)
    fnstcw  RS_DUMP_FCW(%rdi)
    DUMP_GPRS
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbp
    popq    %rbx
.endm

// The spin: count down in memory, check everything, keep CF and DF set.
.macro SPIN reload
    stc
    std                             // a handler runs with DF clear; the goroutine's must survive
1:  jnc     3f                      // CF lost
    CHECK_GPRS 3f
    stc                             // cmp wrote CF; from here to the jnc above it must stay
    decq    RS_COUNT(%rdi)          // writes OF SF ZF AF PF, never CF
    jnz     1b
    jmp     4f
3:  incq    RS_BAD(%rdi)
    jmp     \reload
4:
.endm

    .globl  urgent_test_regspin_avx512
    .type   urgent_test_regspin_avx512, @function
    .p2align 4
urgent_test_regspin_avx512:
    PROLOGUE
5:  .irp r, 0,1,2,3,4,5,6,7
    kmovq   RS_K+\r*8(%rdi), %k\r
    .endr
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vmovdqa64 RS_VEC+\r*64(%rdi), %zmm\r
    .endr
    LOAD_GPRS
    SPIN    6f
    .irp r, 0,1,2,3,4,5,6,7
    kmovq   %k\r, RS_DUMP_K+\r*8(%rdi)
    .endr
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vmovdqa64 %zmm\r, RS_DUMP_VEC+\r*64(%rdi)
    .endr
    EPILOGUE
    vzeroupper
    ret
6:  cld
    jmp     5b                      // reload everything after a mismatch, spin on
    .size   urgent_test_regspin_avx512, .-urgent_test_regspin_avx512

    .globl  urgent_test_regspin_sse
    .type   urgent_test_regspin_sse, @function
    .p2align 4
urgent_test_regspin_sse:
    PROLOGUE
5:  .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqa  RS_VEC+\r*64(%rdi), %xmm\r
    .endr
    LOAD_GPRS
    SPIN    6f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqa  %xmm\r, RS_DUMP_VEC+\r*64(%rdi)
    .endr
    EPILOGUE
    ret
6:  cld
    jmp     5b
    .size   urgent_test_regspin_sse, .-urgent_test_regspin_sse

    .globl  urgent_test_redzone_spin
    .type   urgent_test_redzone_spin, @function
    .p2align 4
urgent_test_redzone_spin:
    xorl    %eax, %eax              // mismatches
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movq    RS_RZ+\i*8(%rdi), %rdx
    movq    %rdx, -128+\i*8(%rsp)   // the red zone: below rsp, no frame, no push
    .endr
1:  .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movq    -128+\i*8(%rsp), %rdx
    cmpq    RS_RZ+\i*8(%rdi), %rdx
    je      2f
    incq    %rax
    movq    RS_RZ+\i*8(%rdi), %rdx  // repair it, keep counting
    movq    %rdx, -128+\i*8(%rsp)
2:
    .endr
    decq    RS_COUNT(%rdi)
    jnz     1b
    ret
    .size   urgent_test_redzone_spin, .-urgent_test_redzone_spin

    .section .note.GNU-stack,"",@progbits
