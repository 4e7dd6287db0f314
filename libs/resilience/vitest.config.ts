import { projectConfig } from '../../vitest.shared.ts';

export default projectConfig({
  coverage: {
    provider: 'v8',
    include: ['src/**/*.ts'],
    exclude: ['src/**/*.test.ts'],
    reporter: ['text-summary', 'text'],
    thresholds: { lines: 90 },
  },
});
