// Kernels exported to the host. Each kernel is a pure function of pointers, sizes and scalars
// into the host-owned memory; nothing here allocates.
export { f32_add_bias } from './f32/bias';
