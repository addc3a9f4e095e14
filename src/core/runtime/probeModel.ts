// A two-node ONNX model (y = MatMul(x, x) + x) used to probe whether an
// execution provider can create a session and compute; encoded once with onnx-proto.
import { onnx } from 'onnx-proto';

let bytes: Uint8Array | undefined;

/** y = MatMul(x, x) + x for x: float32 [2, 2]. With x = [[1,2],[3,4]], y[1][1] = 22 + 4 = 26; see device.ts check. */
export function probeModelBytes(): Uint8Array {
  if (bytes !== undefined) return bytes;
  const vi = (name: string): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 2 }, { dimValue: 2 }] } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'peft-studio-probe',
    graph: {
      name: 'probe',
      node: [
        { opType: 'MatMul', input: ['x', 'x'], output: ['xx'] },
        { opType: 'Add', input: ['xx', 'x'], output: ['y'] },
      ],
      input: [vi('x')],
      output: [vi('y')],
    },
  });
  bytes = onnx.ModelProto.encode(model).finish();
  return bytes;
}
