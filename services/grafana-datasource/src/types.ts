import { DataSourceJsonData } from '@grafana/data';
import { DataQuery } from '@grafana/schema';

/** Query types the backend answers (query.go). */
export type QueryType =
  | 'timeline'
  | 'topEntities'
  | 'alertFeed'
  | 'alertRate'
  | 'openIncidents'
  | 'alertStream'
  | 'eventSearch'
  | 'eventCounts'
  | 'forensic'
  | 'sql'
  | 'tenants'
  | 'entities';

/** The model of a Vigil query; each query type reads some of the fields. */
export interface VigilQuery extends DataQuery {
  queryType?: QueryType;
  tenant?: string;
  entity?: string;
  entityField?: '' | 'source.ip' | 'user.name' | 'host.name';
  profile?: string;
  feature?: string;
  band?: number;
  minScore?: number;
  minSeverity?: '' | 'info' | 'low' | 'medium' | 'high' | 'critical';
  status?: '' | 'firing' | 'resolved';
  srcIp?: string;
  user?: string;
  host?: string;
  source?: string;
  category?: string;
  outcome?: string;
  text?: string;
  groupBy?: string[];
  forensic?: string;
  params?: Record<string, string>;
  rawSql?: string;
  format?: 'table' | 'time_series';
  limit?: number;
}

/** jsonData of a Vigil data source (settings.go). */
export interface VigilOptions extends DataSourceJsonData {
  addr?: string;
  database?: string;
  username?: string;
  tenant?: string;
  defaultTenant?: string;
  queryTimeout?: string;
  maxRows?: number;
  kafkaBrokers?: string;
  alertsTopic?: string;
  kafkaSaslMechanism?: string;
  kafkaSaslUsername?: string;
  kafkaTls?: boolean;
}

/** secureJsonData of a Vigil data source. */
export interface VigilSecureOptions {
  password?: string;
  kafkaSaslPassword?: string;
}

/** The forensic library's queries (pkg/forensics), by name. */
export const forensicQueries = [
  'ip-activity',
  'user-logins',
  'first-seen',
  'top-talkers',
  'failed-then-success',
  'alert-events',
];
