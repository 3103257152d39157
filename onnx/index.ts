// The ONNX engine: graph builder, ops, gradients, optimisers, sessions, trainer core, checkpoints.
export * from './graph.ts';
export * from './serialize.ts';
export * from './ops.ts';
export * from './grad.ts';
export * from './optim.ts';
export * from './session.ts';
export * from './init.ts';
export * from './trainer.ts';
export * from './checkpoint.ts';
export * from './nn.ts';
export * from './flat.ts';
export * from './placement.ts';
export * from './profile.ts';
