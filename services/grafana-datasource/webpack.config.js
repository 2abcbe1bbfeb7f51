// Builds src/module.ts into dist/module.js as an AMD module, the form
// Grafana loads plugin frontends in; Grafana provides React and its
// @grafana packages at run time (externals). Run through build.sh.
const path = require('path');

const pluginId = 'vigilsoc-vigil-datasource';

module.exports = () => ({
  mode: 'production',
  context: path.resolve(__dirname, 'src'),
  entry: { module: './module.ts' },
  devtool: 'source-map',
  output: {
    filename: '[name].js',
    path: path.resolve(process.env.VIGIL_PLUGIN_DIST || path.join(__dirname, 'dist')),
    library: { type: 'amd' },
    publicPath: `public/plugins/${pluginId}/`,
    uniqueName: pluginId,
  },
  externals: [
    'react',
    'react-dom',
    'react/jsx-runtime',
    'rxjs',
    'lodash',
    '@emotion/css',
    '@emotion/react',
    /^@grafana\/ui/i,
    /^@grafana\/runtime/i,
    /^@grafana\/data/i,
  ],
  resolve: { extensions: ['.ts', '.tsx', '.js'] },
  module: {
    rules: [{ test: /\.tsx?$/, loader: 'ts-loader', exclude: /node_modules/ }],
  },
  performance: { hints: false },
});
