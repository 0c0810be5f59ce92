// arch/x86_64/context.S: goroutine context switch for x86-64 System V.
//
// urgent_ctx_switch(from = rdi, to = rsi) is an ordinary call from C++. It pushes the
// callee-saved state onto the current stack, records rsp in from->sp, loads to->sp, pops
// the same frame from the other stack and returns into whatever called urgent_ctx_switch
// there (or into urgent_gostart for a new goroutine). Frame left on a suspended stack,
// offsets from the saved sp (kept in step with context.h by static_assert):
//
//        higher addresses
//   +56  | return address   |  <- pushed by the caller's `call`
//   +48  | rbp              |
//   +40  | rbx              |
//   +32  | r12              |
//   +24  | r13              |
//   +16  | r14              |
//   +8   | r15              |
//   +4   | x87 control word |  (2 bytes, upper 2 bytes unused)
//   +0   | MXCSR            |  <- Context::sp
//        lower addresses
//
// Only control state of the FPU is switched: MXCSR and the x87 control word are
// callee-saved by the ABI; status flags and data registers are caller-saved.
// Every offset below comes from context_offsets.h, which context.h checks against C++.

#include "context_offsets.h"

    .section urgent_text, "ax", @progbits   // runtime code: never preempted (preempt.cc)
    .globl  urgent_ctx_switch
    .type   urgent_ctx_switch, @function
    .p2align 4
urgent_ctx_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
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
    subq    $8, %rsp                // room for MXCSR + x87 CW
    .cfi_adjust_cfa_offset 8
    stmxcsr URGENT_FRAME_FPU(%rsp)
    fnstcw  URGENT_FRAME_FCW(%rsp)                 // fnstcw: no wait for pending x87 exceptions
    movl    URGENT_FRAME_FPU(%rsp), %eax            // keep our MXCSR and CW in scratch registers
    movzwl  URGENT_FRAME_FCW(%rsp), %edx
    movq    %rsp, URGENT_CTX_SP(%rdi)            // from->sp = rsp  (offset kContextSpOffset)
    movq    URGENT_CTX_SP(%rsi), %rsp            // rsp = to->sp: from here on we are on the other stack
    // ldmxcsr and fldcw cost several cycles each (more than the rest of the switch) and
    // the values almost never differ between goroutines: load them only when they do.
    cmpl    URGENT_FRAME_FPU(%rsp), %eax
    je      1f
    ldmxcsr URGENT_FRAME_FPU(%rsp)
1:  cmpw    URGENT_FRAME_FCW(%rsp), %dx
    je      2f
    fldcw   URGENT_FRAME_FCW(%rsp)
2:  addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret                             // into the other context's caller, or urgent_gostart
    .cfi_endproc
    .size   urgent_ctx_switch, .-urgent_ctx_switch

// urgent_gostart: the bottom frame of every goroutine. make_context() put the entry
// function in r13 and its argument in r12; rsp is 16-byte aligned here (no return address
// was pushed: we arrived by `ret`), which is what the ABI requires at a call.
//
// `.cfi_undefined rip` marks this as the outermost frame: an unwinder (a C++ throw, a
// backtrace) stops here. An exception that escapes the goroutine's function therefore finds
// no handler and std::terminate runs on the goroutine's intact stack, where urgent reports
// it as a panic with the throwing frames still visible.
    .globl  urgent_gostart
    .type   urgent_gostart, @function
    .p2align 4
urgent_gostart:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi              // entry(arg)
    callq   *%r13
    ud2                             // entry never returns: it exits the goroutine
    .cfi_endproc
    .size   urgent_gostart, .-urgent_gostart

// urgent_ctx_restart(top = rdi, entry = rsi, arg = rdx): abandons the current context and
// starts entry(arg) as a new goroutine at the top of the *same* stack. An exiting goroutine
// uses it to hand its still-hot stack to a goroutine that has never run: no save, no switch.
// The new goroutine starts with the default MXCSR and x87 control word, as a new stack
// from make_context would.
//
//   top (aligned down to 16) -> | 8 bytes scratch for the FPU control words |
//                               rsp here when urgent_gostart calls entry
    .globl  urgent_ctx_restart
    .type   urgent_ctx_restart, @function
    .p2align 4
urgent_ctx_restart:
    .cfi_startproc
    .cfi_undefined rip
    andq    $-16, %rdi
    movq    %rdi, %rsp              // the old frames on this stack are dead
    movq    %rdx, %r12              // urgent_gostart calls r13(r12)
    movq    %rsi, %r13
    xorl    %ebp, %ebp              // terminates frame-pointer walks
    subq    $16, %rsp               // scratch, keeps rsp 16-aligned
    stmxcsr (%rsp)
    cmpl    $URGENT_DEFAULT_MXCSR, (%rsp)
    je      1f
    movl    $URGENT_DEFAULT_MXCSR, (%rsp)
    ldmxcsr (%rsp)
1:  fnstcw  (%rsp)
    cmpw    $URGENT_DEFAULT_FCW, (%rsp)
    je      2f
    movw    $URGENT_DEFAULT_FCW, (%rsp)
    fldcw   (%rsp)
2:  addq    $16, %rsp
    jmp     urgent_gostart
    .cfi_endproc
    .size   urgent_ctx_restart, .-urgent_ctx_restart

    .section .note.GNU-stack,"",@progbits
