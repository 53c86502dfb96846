"""MirroredStrategy over 2 logical CPU devices against one device, in a fresh process (logical devices must be
configured before TensorFlow initialises its devices):

    python tools/mirrored_check.py BACKBONE

Checks that the strategy has 2 replicas in sync, that every variable is mirrored on both devices (and both copies
are identical after training), and that one epoch of `fit` (SGD, no dropout, global batch 16, so 8 per replica)
gives the same weights as one device with the same global batch, for a frozen and for a trainable `hub.KerasLayer`
backbone. Prints one JSON line; exits 1 if a check fails.
"""
import json, sys
from flowerclf.training import make_strategy
strategy = make_strategy('mirrored', replicas=2)            # first, before any other TensorFlow operation
import numpy as np, tensorflow as tf, tf_keras as keras
from flowerclf.model import build_model, get_backbone

def one_epoch_difference(backbone, trainable:bool)->dict:
    "Train the same model one epoch on one device and under the strategy; how far apart their weights end"
    rng = np.random.RandomState(0)
    x = rng.uniform(size=(96, 32, 32, 3)).astype(np.float32); y = (np.arange(96) % 5).astype(np.int64)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    def model():
        m = build_model(backbone, num_classes=5, dropout=0.0, trainable=trainable, seed=0)
        m.compile(optimizer=keras.optimizers.SGD(0.5), loss='sparse_categorical_crossentropy'); return m
    one = model()
    with strategy.scope(): two = model()
    two.set_weights(one.get_weights()); start = one.get_weights()
    one.fit(data, epochs=1, verbose=0); two.fit(data, epochs=1, verbose=0)
    return {'mirrored': all(isinstance(v, tf.distribute.DistributedValues) and len(v.values) == 2 for v in two.weights),
            'devices': sorted({v.values[i].device.split('/')[-1] for v in two.weights for i in range(2)}),
            'copies_identical': all(np.array_equal(v.values[0].numpy(), v.values[1].numpy()) for v in two.weights),
            'max_change': max(float(np.abs(a - b).max()) for a, b in zip(start, one.get_weights())),
            'max_difference': max(float(np.abs(a - b).max()) for a, b in zip(one.get_weights(), two.get_weights()))}

if __name__ == '__main__':
    bb = get_backbone(sys.argv[1])
    report = {'replicas': strategy.num_replicas_in_sync,
              **{f'trainable={t}': one_epoch_difference(bb, t) for t in (False, True)}}
    print(json.dumps(report))
    ok = report['replicas'] == 2 and all(r['mirrored'] and r['copies_identical'] and r['max_change'] > 1e-3
                                         and r['max_difference'] < 1e-5 for k, r in report.items() if k != 'replicas')
    sys.exit(0 if ok else 1)
