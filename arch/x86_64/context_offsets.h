/* arch/x86_64/context_offsets.h: every number context.S uses, shared with C++ (context.h
 * static_asserts each against the C++ layout). Plain #defines: the assembler includes it. */
#pragma once

#define URGENT_CTX_SP 0    /* offsetof(arch::Context, sp) */
#define URGENT_FRAME_FPU 0 /* MXCSR (4 bytes), then the x87 control word (2 bytes) */
#define URGENT_FRAME_FCW 4
#define URGENT_FRAME_R15 8
#define URGENT_FRAME_R14 16
#define URGENT_FRAME_R13 24
#define URGENT_FRAME_R12 32
#define URGENT_FRAME_RBX 40
#define URGENT_FRAME_RBP 48
#define URGENT_FRAME_RET 56
#define URGENT_FRAME_SIZE 64 /* the six pushes, the FPU slot and the return address */
#define URGENT_DEFAULT_MXCSR 0x1F80
#define URGENT_DEFAULT_FCW 0x037F

/* Asynchronous preemption (preempt.S, sigctxt.h, preempt.cc). */
#define URGENT_RED_ZONE 128          /* System V red zone: the handler leaves it untouched */
#define URGENT_PREEMPT_PUSHES 16     /* rflags + the 15 GPRs other than rsp */
#define URGENT_XSAVE_ALIGN 64        /* XSAVE's memory operand must be 64-byte aligned */
#define URGENT_XSAVE_HEADER 512      /* offset of the XSAVE header (64 bytes) */
#define URGENT_XSAVE_HEADER_QWORDS 8 /* the header must be zero before XSAVE (XRSTOR checks) */
