// `peft-studio serve` argument checks (before any model is opened): usage errors exit 2, bad values exit 1 with a
// message naming the flag; route specs and the weighted pick they feed.
import * as assert from 'node:assert/strict';
import { parseRouteTargets, pick } from '../../../src/core/serve/models';
import { runCli as cli } from '../cli/runCli';

describe('peft-studio serve: arguments', () => {
  it('usage errors and bad values', async () => {
    assert.equal((await cli(['serve'])).code, 2);
    const route = await cli(['serve', '--model', '.', '--route', 'chat=a80']);
    assert.equal(route.code, 1);
    assert.match(route.err, /--route chat: "a80" is not ADAPTER:WEIGHT/);
    const adapter = await cli(['serve', '--model', '.', '--adapter', 'x=/no/such/folder']);
    assert.equal(adapter.code, 1);
    assert.match(adapter.err, /the folder of adapter "x" does not exist/);
    assert.equal((await cli(['serve', '--model', '.', '--adapter', 'noequals'])).code, 2);
  });

  it('route targets parse, and the pick follows the weights as shares of their sum', () => {
    const t = parseRouteTargets('v1:80,v2:20', 'x');
    assert.deepEqual(t, [{ adapter: 'v1', weight: 80 }, { adapter: 'v2', weight: 20 }]);
    assert.equal(pick(t, 0), 'v1');
    assert.equal(pick(t, 0.79), 'v1');
    assert.equal(pick(t, 0.81), 'v2');
    assert.equal(pick([{ adapter: 'a', weight: 0 }, { adapter: 'b', weight: 3 }], 0), 'b');
    assert.equal(pick([{ adapter: 'a', weight: 1 }, { adapter: 'b', weight: 0 }], 0.999), 'a');
  });
});
