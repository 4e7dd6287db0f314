import { projectConfig } from '../../vitest.shared.ts';

export default projectConfig({ globalSetup: ['../../libs/local-postgres/src/vitest-setup.ts'] });
