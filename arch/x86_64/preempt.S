// arch/x86_64/preempt.S: the asynchronous preemption trampoline (Go's asyncPreempt,
// preempt_amd64.s).
//
// The SIGURG handler (runtime/signal_unix.cc, via sigctxt_push_call) makes the interrupted
// goroutine "call" urgent_async_preempt at the instruction it was about to execute: it
// stores the interrupted rip below the 128-byte red zone, points rsp at it and sets rip to
// this function. Nothing of the interrupted code's state has been saved yet, so the
// trampoline saves *everything* a call would not preserve: every general-purpose register,
// rflags and the whole extended state (x87, SSE, AVX, AVX-512 ZMM and k registers: every
// component enabled in XCR0) with XSAVE, then calls urgent_async_preempt2, which puts the
// goroutine on the global run queue and runs another. When the goroutine is resumed, on
// whatever M, the call returns here; the trampoline restores everything and `ret $128`
// jumps to the interrupted rip and releases the red-zone gap in one instruction.
//
// Stack while urgent_async_preempt2 runs (rbx holds the address of the saved rax):
//
//        higher addresses
//        | interrupted frame ...     |  <- interrupted rsp (the CFA of this frame)
//        | red zone, 128 bytes       |  live data of a leaf function: never touched
//        | interrupted rip           |  <- rsp at entry ("return address", written by the handler)
//        | rflags                    |
//        | rax rcx rdx rbx rbp rsi   |
//        | rdi r8 r9 r10 r11 r12 r13 |
//        | r14 r15                   |  <- rbx (15 GPRs: everything but rsp)
//        | padding to 64 bytes       |
//        | XSAVE area                |  urgent_xsave_size bytes (CPUID.(0Dh,0).EBX), 64-aligned
//        | (header zeroed first)     |  <- rsp at the call (64-aligned, so 16-aligned)
//        lower addresses
//
// Why XSAVE and not XSAVEOPT: XSAVEOPT may skip writing components that are unchanged
// since the last XRSTOR *from the same address*, trusting that memory still holds them. A
// goroutine stack is reused by other frames between two preemptions at the same depth, so
// that memory may have been overwritten: skipped components would be restored as garbage.
// XSAVEC/XSAVES would be smaller, but XSAVE's standard layout is what debuggers expect.

#include "context_offsets.h"

    .section urgent_text, "ax", @progbits   // runtime code: never preempted itself (preempt.cc)
    .globl  urgent_async_preempt
    .type   urgent_async_preempt, @function
    .p2align 4
urgent_async_preempt:
    .cfi_startproc
    .cfi_signal_frame                       // the "return address" is not after a call
    // CFA = the interrupted rsp: entry rsp + 8 (the rip slot) + the red zone.
    .cfi_def_cfa rsp, 8 + URGENT_RED_ZONE
    .cfi_offset rip, -(8 + URGENT_RED_ZONE)
    pushfq
    .cfi_adjust_cfa_offset 8
    cld                                     // the ABI wants DF clear at every call
    pushq   %rax
    .cfi_adjust_cfa_offset 8
    pushq   %rcx
    .cfi_adjust_cfa_offset 8
    pushq   %rdx
    .cfi_adjust_cfa_offset 8
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq   %rsi
    .cfi_adjust_cfa_offset 8
    pushq   %rdi
    .cfi_adjust_cfa_offset 8
    pushq   %r8
    .cfi_adjust_cfa_offset 8
    pushq   %r9
    .cfi_adjust_cfa_offset 8
    pushq   %r10
    .cfi_adjust_cfa_offset 8
    pushq   %r11
    .cfi_adjust_cfa_offset 8
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    movq    %rsp, %rbx                      // callee-saved: finds the GPRs again after the call
    .cfi_def_cfa_register rbx
    subq    urgent_xsave_size(%rip), %rsp
    andq    $-URGENT_XSAVE_ALIGN, %rsp
    leaq    URGENT_XSAVE_HEADER(%rsp), %rdi // XRSTOR faults on a non-zero reserved header,
    movl    $URGENT_XSAVE_HEADER_QWORDS, %ecx //   and XSAVE writes only XSTATE_BV of it
    xorl    %eax, %eax
    rep stosq                               // (DF is clear: cld above)
    movl    $-1, %eax                       // edx:eax = requested-feature bitmap: every
    movl    $-1, %edx                       //   component XCR0 enables
    xsave64 (%rsp)                          // 64-bit form: full 64-bit x87 FIP/FDP
    call    urgent_async_preempt2           // returns when the goroutine is resumed
    movl    $-1, %eax
    movl    $-1, %edx
    xrstor64 (%rsp)                         // every component back (MXCSR, x87 CW included)
    movq    %rbx, %rsp
    .cfi_def_cfa_register rsp
    popq    %r15
    .cfi_adjust_cfa_offset -8
    popq    %r14
    .cfi_adjust_cfa_offset -8
    popq    %r13
    .cfi_adjust_cfa_offset -8
    popq    %r12
    .cfi_adjust_cfa_offset -8
    popq    %r11
    .cfi_adjust_cfa_offset -8
    popq    %r10
    .cfi_adjust_cfa_offset -8
    popq    %r9
    .cfi_adjust_cfa_offset -8
    popq    %r8
    .cfi_adjust_cfa_offset -8
    popq    %rdi
    .cfi_adjust_cfa_offset -8
    popq    %rsi
    .cfi_adjust_cfa_offset -8
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    popq    %rdx
    .cfi_adjust_cfa_offset -8
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    popq    %rax
    .cfi_adjust_cfa_offset -8
    popfq                                   // flags last: nothing after this may change them
    .cfi_adjust_cfa_offset -8
    ret     $URGENT_RED_ZONE                // to the interrupted rip; rsp += 128 after the pop
    .cfi_endproc
    .size   urgent_async_preempt, .-urgent_async_preempt

    .section .note.GNU-stack,"",@progbits
